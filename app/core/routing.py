"""Which version answers: the routing a model's serving file asks for, resolved against what loaded.

What the file (``app.storage.serving``) asks for applies only to versions that loaded: a pinned
default that is not loaded leaves the model's last good default in force (``app.core.registry``),
and a canary that is not loaded gets no traffic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from app.storage.serving import Canary, ServingConfig


@dataclass(frozen=True)
class Routing:
    """The versions a model's routes use, given its serving config and which versions loaded."""

    default: int
    labels: dict[str, int]
    #: The canary in force: its version loaded and is not the default.
    canary: Canary | None

    def choose(self, draw: float | None = None) -> int:
        """The version that answers one request on the default route (the canary's share of them)."""
        if self.canary is None:
            return self.default
        share = random.random() if draw is None else draw
        return self.canary.version if share * 100 < self.canary.percent else self.default


def route(config: ServingConfig, versions: list[int], loaded: list[int], previous: int | None) -> Routing:
    """Resolve the config against the versions present and those that loaded.

    The default is the pinned one when it loaded. Otherwise it is the highest version that
    loaded; with a pin that did not load, ``previous`` (the model's last good default) keeps
    serving while it is loaded, so a bad new version named in the file never takes over. With
    nothing loaded the highest version is the default (and answers 503).
    """
    if config.default in loaded:
        default = config.default
    elif config.default is not None and previous in loaded:
        default = previous
    else:
        default = max(loaded or versions)
    canary = config.canary
    if canary is not None and (canary.version not in loaded or canary.version == default or canary.percent <= 0):
        canary = None
    return Routing(default, dict(config.labels), canary)
