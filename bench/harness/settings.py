"""What the environment asks of a bench run: the servers, the durations, the image and the MODELHOST_* tuning."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from harness.console import BenchError

# In the order they run in each workload: the earlier image right before today's, so that
# noise on the machine hits both alike.
SERVER_NAMES = ("baseline", "earlier", "container", "daemon", "host")
#: Without SERVERS: all but the earlier image, which runs by default only when EARLIER_IMAGE is set.
DEFAULT_SERVERS = ("baseline", "container", "daemon", "host")
#: How to make the image EARLIER_IMAGE names (bench/earlier_image.sh).
EARLIER_IMAGE_HOWTO = ("build the image of an earlier revision with `bench/earlier_image.sh REV TAG` "
                       "(e.g. `bench/earlier_image.sh 59770c7 modelhost:earlier`), then "
                       "SERVERS=\"baseline earlier container\" EARLIER_IMAGE=modelhost:earlier make bench")

# MODELHOST_* variables that tune the server (README.md, "Tuning"), passed on to the container
# and to `make run`. Addresses, ports and paths are the bench's to choose and are not passed.
TUNING_VARIABLES = tuple(f"MODELHOST_{name}" for name in (
    "PROCESSES", "THREADS", "MAX_CLIENTS", "LISTEN_BACKLOG", "KEEP_ALIVE_TIMEOUT", "QUEUE_TIMEOUT",
    "REQUEST_TIMEOUT", "SOCKET_TIMEOUT", "STARTUP_TIMEOUT", "GRACEFUL_TIMEOUT", "SHUTDOWN_TIMEOUT",
    "MAXIMUM_REQUESTS", "MAX_CONTENT_LENGTH", "MAX_BATCH_SIZE", "LOG_LEVEL", "LOG_FORMAT",
    "APACHE_LOG_LEVEL", "ACCESS_LOG", "APACHE_ACCESS_LOG", "LOG_FLUSH_MS", "SERVER_MPM", "WSGI_MODE",
    "BATCHING", "BATCH_MAX_ROWS", "BATCH_MAX_WAIT_US", "BATCHING_MODELS",
))


def seconds(duration: str) -> int:
    """Seconds in a wrk duration such as ``8s``, ``2m`` or ``8``."""
    match = re.fullmatch(r"(\d+)([smh]?)", duration.strip())
    if not match or int(match[1]) == 0:
        raise BenchError(f"a duration must be a positive whole number with s, m or h (like 8s), got {duration!r}")
    return int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def tuning_from_env() -> dict[str, str]:
    """The MODELHOST_* tuning variables set (and not empty) in the environment."""
    return {name: os.environ[name] for name in TUNING_VARIABLES if os.environ.get(name)}


def image_from_env() -> str:
    return os.environ.get("IMAGE", "modelhost:latest")


@dataclass(frozen=True)
class Settings:
    """What the environment asks of this run."""

    servers: tuple[str, ...]
    duration: str
    warmup: str
    wrk_threads: int
    image: str
    tuning: dict[str, str]
    #: The image of the server `earlier` (EARLIER_IMAGE), or None.
    earlier_image: str | None = None
    #: Whether the image's, the rollout's and the protocols' measurements follow the table (FOLLOW_UPS).
    follow_ups: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        earlier_image = os.environ.get("EARLIER_IMAGE", "").strip() or None
        default = DEFAULT_SERVERS + (("earlier",) if earlier_image else ())
        servers = tuple(os.environ.get("SERVERS", " ".join(default)).split())
        unknown = sorted(set(servers) - set(SERVER_NAMES))
        if unknown or not servers:
            raise BenchError(f"SERVERS must name some of {', '.join(SERVER_NAMES)}; "
                             f"got {' '.join(servers) or '(nothing)'}")
        if "earlier" in servers and not earlier_image:
            raise BenchError(f"the server earlier needs EARLIER_IMAGE, the image to compare today's with: "
                             f"{EARLIER_IMAGE_HOWTO}")
        follow_ups = os.environ.get("FOLLOW_UPS", "on").strip().lower()
        if follow_ups not in ("on", "off"):
            raise BenchError(f"FOLLOW_UPS must be on or off, got {follow_ups!r}")
        threads = os.environ.get("WRK_THREADS", "2")
        if not threads.isdigit() or int(threads) < 1:
            raise BenchError(f"WRK_THREADS must be a positive whole number, got {threads!r}")
        settings = cls(
            servers=tuple(name for name in SERVER_NAMES if name in servers),
            duration=os.environ.get("DURATION", "8s").strip(),
            warmup=os.environ.get("WARMUP", "2s").strip(),
            wrk_threads=int(threads),
            image=image_from_env(),
            tuning=tuning_from_env(),
            earlier_image=earlier_image,
            follow_ups=follow_ups == "on",
        )
        for duration in (settings.duration, settings.warmup):
            seconds(duration)  # raises on a malformed one
        return settings
