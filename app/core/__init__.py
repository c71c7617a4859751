"""The model core: features, schemas, runtimes, batching, the registry and the dataplane; no web framework."""
