"""Seldon MLServer beside modelhost in bench/protocols.py (MLSERVER=on): its virtualenv, its settings, its process.

MLServer 1.7.1 with mlserver-sklearn serves the bench's MODEL joblib file as a host process on
loopback, with its defaults (one inference worker) except debug off (no access log). It lives
in build/bench/mlserver-venv, made when missing, with the libraries that read the joblib file
at the pins of requirements.txt.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import make_models
import requests
from harness.commands import pinned_version, run, tail
from harness.console import BenchError, logger
from harness.paths import MODELS_DIR, OUT_DIR, ROOT
from harness.servers import LOOPBACK, ProcessGroupServer, free_port, stop_quietly
from protocols_bodies import MODEL, PROTOCOLS_DIR

MLSERVER_VENV = OUT_DIR / "mlserver-venv"
#: MLServer and its scikit-learn runtime; the libraries that read the joblib file as in requirements.txt.
#: uvloop 0.22 and later raise in asyncio.get_event_loop() outside a running loop, which MLServer
#: 1.7.1's inference workers call as they start: every worker dies and no model loads.
MLSERVER_REQUIREMENTS = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0")
MLSERVER_SHARED = ("scikit-learn", "numpy", "scipy", "joblib")

log = logger("protocols")


class MLServer(ProcessGroupServer):
    """Seldon MLServer serving the bench's MODEL joblib file with mlserver-sklearn, on loopback."""

    name = "mlserver"
    start_timeout = 120.0
    is_modelhost = False

    def __init__(self) -> None:
        super().__init__(MODELS_DIR)
        self.root = PROTOCOLS_DIR / "mlserver"

    def command(self) -> tuple[list[str], dict[str, str]]:
        model_dir = self.root / MODEL
        model_dir.mkdir(parents=True, exist_ok=True)
        # debug off: no access line per request (on by default). The rest is MLServer's default,
        # parallel_workers 1 among it: the HTTP server in one process, predict in another.
        (self.root / "settings.json").write_text(json.dumps({
            "host": LOOPBACK, "http_port": self.port, "grpc_port": free_port(),
            "metrics_port": free_port(), "debug": False}, indent=1))
        (model_dir / "model-settings.json").write_text(json.dumps({
            "name": MODEL, "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str(make_models.artifact_path(self.models_dir, MODEL)), "version": "1"}}, indent=1))
        env = {name: value for name, value in os.environ.items() if not name.startswith("MLSERVER_")}
        return [str(MLSERVER_VENV / "bin" / "mlserver"), "start", str(self.root)], env

    def answers(self, session: requests.Session) -> bool:
        return session.get(f"{self.url}/v2/models/{MODEL}/ready", timeout=2).status_code == 200


def ensure_mlserver() -> None:
    """MLServer in its own virtualenv, build/bench/mlserver-venv, made when missing or not at the pins."""
    shared = [f"{name}=={pinned_version(ROOT / 'requirements.txt', name)}" for name in MLSERVER_SHARED]
    wanted = [*MLSERVER_REQUIREMENTS, *shared]
    stamp = MLSERVER_VENV / "bench-requirements.txt"
    if (MLSERVER_VENV / "bin" / "mlserver").exists() and stamp.exists() and stamp.read_text().split() == wanted:
        return
    log(f"installing {' '.join(wanted)} into {MLSERVER_VENV.relative_to(ROOT)} (a minute or two)")
    for command in ([sys.executable, "-m", "venv", "--clear", str(MLSERVER_VENV)],
                    [str(MLSERVER_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *wanted]):
        try:
            result = run(command, timeout=900)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{' '.join(command)} did not finish in 15 minutes") from None
        if result.returncode != 0:
            raise BenchError(f"{' '.join(command)} failed:\n{tail(result.stdout + result.stderr)}")
    stamp.write_text("\n".join(wanted) + "\n")


def start_mlserver(stack: contextlib.ExitStack) -> MLServer:
    """MLServer installed when missing and started (not yet ready); ``stack`` stops it."""
    ensure_mlserver()
    mlserver = MLServer()
    stack.callback(stop_quietly, mlserver)
    log(f"starting {mlserver.name} on {mlserver.url} (log: {mlserver.log_path.relative_to(ROOT)})")
    mlserver.start()
    return mlserver
