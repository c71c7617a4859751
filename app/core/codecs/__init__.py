"""Payloads to the model's matrix and back, one module per protocol, with errors in the protocol's terms."""
