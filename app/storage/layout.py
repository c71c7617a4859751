"""The repository's layout: ``<root>/<name>/<version>/`` holds a model's artifact and its
optional ``model.json``, beside the model's optional ``serving.json`` (:mod:`app.storage.serving`).

A scan skips folders whose names are not these patterns, and training refuses such names.
"""

from __future__ import annotations

import re

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
VERSION_PATTERN = re.compile(r"[1-9][0-9]{0,8}")
#: Artifact file names, in the order they are looked for.
ARTIFACTS = ("model.joblib", "model.pkl", "model.skops")
METADATA_FILE = "model.json"
