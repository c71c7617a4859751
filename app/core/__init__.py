"""The model core: features, schemas, runtimes, batching, the registry and the dataplane; no web framework."""

#: The server's name and version, as the Open Inference Protocol's server metadata (GET /v2)
#: reports them; pyproject.toml reads the version from here.
SERVER_NAME = "modelhost"
VERSION = "1.0.0"
