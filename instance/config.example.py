"""Example instance configuration. Copy to instance/config.py (git-ignored) and edit.

Values here override the defaults in app/config.py; MODELHOST_* environment variables
override values here. Keep secrets (API_TOKEN) in this file or the environment, never in git.
"""

# Folder of models: <MODEL_REPOSITORY>/<name>/<version>/model.joblib. Relative to instance/.
MODEL_REPOSITORY = "models"

# Request limits: bytes of a request body, and instances in one predict request.
MAX_CONTENT_LENGTH = 10 * 1024 * 1024
MAX_BATCH_SIZE = 10_000

# Logging: level, "text" or "json", and an optional file rotated at LOG_MAX_BYTES (gzip).
LOG_LEVEL = "INFO"
LOG_FORMAT = "text"
# LOG_FILE = "/var/log/modelhost/modelhost.log"
# LOG_MAX_BYTES = 10 * 1024 * 1024
# LOG_BACKUP_COUNT = 5

# Bearer token required on /v1 endpoints when set: text of printable ASCII, in quotes. The server
# refuses to start when it is empty or not a string. MODELHOST_API_TOKEN is taken as its exact text.
# API_TOKEN = "change-me"
# Bearer token of the repository's write operations (POST /v1/repository/reload), separate from
# API_TOKEN; without it they answer 403. MODELHOST_ADMIN_TOKEN is taken as its exact text.
# ADMIN_TOKEN = "change-me-too"
# Take REMOTE_USER, the user the Apache in front signed in, in place of API_TOKEN. The container's
# start script sets it with LDAP sign-in (README "LDAP sign-in"). Turn it on only where the server
# in front sets REMOTE_USER after checking the user itself, as Apache's mod_authnz_ldap does.
# TRUST_REMOTE_USER = False

# Origins of browser front-ends that may call the API (/v1, /v2, /health) from another site: scheme,
# host and port only, no trailing slash; ["*"] allows every origin. Unset: no CORS headers at all.
# MODELHOST_CORS_ORIGINS takes them comma-separated; only that variable reaches Apache's own errors.
# CORS_ORIGINS = ["https://dash.example.com", "http://localhost:3000"]

# Seconds between scans of the model repository for new, changed and removed versions (0: off).
# REPOSITORY_POLL_SECONDS = 5

# Classes skops may load from .skops files beyond its trusted defaults.
# SKOPS_TRUSTED_TYPES = ["mypackage.transformers.MyScaler"]

# One access line per request; log lines to stderr written together every LOG_FLUSH_MS.
# ACCESS_LOG = True
# LOG_FLUSH_MS = 250

# Batching of concurrent requests per model version (README "Batching"). model.json's
# "batching" object overrides these per version, BATCHING_MODELS per model.
# BATCHING = True
# BATCH_MAX_ROWS = 256
# BATCH_MAX_WAIT_US = 1000
# BATCHING_MODELS = {"forest": {"max_rows": 64}, "tiny": {"enabled": False}}
