"""What the environment asks of `make soak` (bench/soak.py): durations, connections, the memory target, the image."""
from __future__ import annotations

import os
from dataclasses import dataclass

from harness.console import BenchError
from harness.paths import ROOT
from harness.settings import image_from_env, seconds, tuning_from_env

SOAK_DIR = ROOT / "build" / "soak"
DEFAULT_MAX_BATCH_SIZE = 10_000  # the server's default (API.md, "Configuration")


def whole_number(name: str, default: int) -> int:
    value = os.environ.get(name, str(default)).strip()
    if not value.isdigit() or int(value) < 1:
        raise BenchError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """What the environment asks of this run."""

    duration: str
    warmup: str
    connections: int
    sample_interval: str
    max_growth_percent: int
    wrk_threads: int
    image: str
    tuning: dict[str, str]

    @classmethod
    def from_env(cls) -> Settings:
        settings = cls(
            duration=os.environ.get("DURATION", "10m").strip(),
            warmup=os.environ.get("WARMUP", "1m").strip(),
            connections=whole_number("CONNECTIONS", 64),
            sample_interval=os.environ.get("SAMPLE_INTERVAL", "10s").strip(),
            max_growth_percent=whole_number("MAX_MEMORY_GROWTH", 10),
            wrk_threads=whole_number("WRK_THREADS", 2),
            image=image_from_env(),
            tuning=tuning_from_env(),
        )
        if settings.warmup_s + settings.interval_s > settings.duration_s:
            raise BenchError(
                f"the warm-up ({settings.warmup}) and one sample interval ({settings.sample_interval}) must fit "
                f"in the duration ({settings.duration}), so that memory is sampled after the warm-up: "
                "shorten WARMUP or SAMPLE_INTERVAL, or lengthen DURATION")
        return settings

    @property
    def duration_s(self) -> int:
        return seconds(self.duration)

    @property
    def warmup_s(self) -> int:
        return seconds(self.warmup)

    @property
    def interval_s(self) -> int:
        return seconds(self.sample_interval)

    @property
    def mode(self) -> str:
        return self.tuning.get("MODELHOST_WSGI_MODE", "embedded")

    @property
    def max_batch_size(self) -> int:
        value = self.tuning.get("MODELHOST_MAX_BATCH_SIZE", str(DEFAULT_MAX_BATCH_SIZE))
        if not value.isdigit():
            raise BenchError(f"MODELHOST_MAX_BATCH_SIZE must be a whole number, got {value!r}")
        return int(value)
