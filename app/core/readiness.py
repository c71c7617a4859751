"""What a process remembers of its models across scans: each one's last good default, and
whether start-up is over.

At the end of every scan the watcher settles the registry: the default of each model that
serves is remembered as its last good one. It is the fallback while a pinned default is not
loaded, and it marks the models readiness counts (those that have served). A process that joins
a running server adopts the server's memory of both (``app.core.fleet``), so it routes and reports
readiness like its neighbours.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.core.versions import Model


class Readiness:
    """Each model's last good default, and the start-up rule; the registry changes it under its lock."""

    def __init__(self) -> None:
        #: Each model's last good default: the default in force, and loaded, at the end of a scan.
        #: A model is here once it has served; readiness counts these models (README).
        self.last_good: dict[str, int] = {}
        #: Whether the start-up rule is over: once every model served at the end of a scan. Until
        #: then every model must serve for the process to be ready.
        self.started = False
        #: Models removed since the last scan ended: their last good default is forgotten.
        self._removed: set[str] = set()

    def adopt(self, last_good: Mapping[str, int], started: bool) -> None:
        """Take over what the server knows when this process joins it, before the first scan."""
        self.last_good.update(last_good)
        self.started = self.started or started

    def removed(self, name: str) -> None:
        """A model is gone: its last good default is forgotten when the scan ends."""
        self._removed.add(name)

    def settle(self, models: Mapping[str, Model]) -> dict[str, int | None]:
        """End of a scan: remember the default of each model that serves; return what changed (None: forgotten).

        The first scan after which every model serves ends the start-up rule of readiness.
        """
        changed: dict[str, int | None] = {name: None for name in self._removed if name not in models}
        self._removed.clear()
        for name in changed:
            self.last_good.pop(name, None)
        for name, model in models.items():
            if model.serves and self.last_good.get(name) != model.default_version:
                self.last_good[name] = changed[name] = model.default_version
        if not self.started and all(model.serves for model in models.values()):
            self.started = True
        return changed

    def serving(self, models: Mapping[str, Model]) -> bool:
        """Every model that has served still answers.

        Until the server has started (every model served at once), every model must answer. After
        that, a model that never loaded (a broken one copied in) is listed as failed but does not
        count: it must not take an instance that serves every other model out of rotation.
        """
        started, last_good = self.started, self.last_good
        return all(model.serves for name, model in models.items() if not started or name in last_good)
