"""Where the bench reads its scripts and pins and writes its models, bodies, logs and results."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH_DIR = ROOT / "bench"
OUT_DIR = ROOT / "build" / "bench"
MODELS_DIR = OUT_DIR / "models"
BODIES_DIR = OUT_DIR / "bodies"
LOGS_DIR = OUT_DIR / "logs"
REQUIREMENTS = BENCH_DIR / "requirements.txt"
#: The virtualenv the bench runs in, where it installs what bench/requirements.txt pins.
VENV_BIN = Path(sys.executable).parent
