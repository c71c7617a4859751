"""The URL prefixes of the API, written once: the blueprints mount on them, and CORS, the problem
documents and the generated Apache sign-in configuration match requests against them."""

#: modelhost's own JSON API (and KServe V1's ``:predict`` under it).
V1 = "/v1"
#: The Open Inference Protocol.
V2 = "/v2"
#: Liveness and readiness.
HEALTH = "/health"
