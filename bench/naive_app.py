"""The naive baseline: the prediction server a team writes when it does not use modelhost.

Loads the benchmark models (folder in env BENCH_MODELS) at import and predicts whatever rows it
is sent: no validation, no logging. `make bench` serves it with gunicorn, 2 workers x 4 threads
(bench/harness/servers.py, Baseline).
"""
import os
from pathlib import Path

import joblib
import numpy as np
from flask import Flask, Response, jsonify, request

MODELS_DIR = Path(os.environ["BENCH_MODELS"])
MODELS = {name: joblib.load(MODELS_DIR / name / "1" / "model.joblib") for name in ("iris_lr", "iris_rf")}

app = Flask(__name__)


@app.post("/v1/models/<name>/predict")
def predict(name: str) -> Response:
    model = MODELS[name]
    X = np.asarray(request.get_json()["instances"], dtype=float)
    return jsonify({"predictions": model.predict(X).tolist()})
