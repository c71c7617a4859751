"""The one error training raises: the input cannot be trained on, in one line that says how to fix it."""

from __future__ import annotations


class TrainingError(Exception):
    """The input cannot be trained on; the message says why and how to fix it."""


def one_line(exc: BaseException | str) -> str:
    """An error's text on one line, as TrainingError's messages quote it."""
    return " ".join(str(exc).split())
