"""Why a version cannot be loaded, worded for clients: without the server's own paths."""

from __future__ import annotations

import re


class LoadError(Exception):
    """A version cannot be loaded; the message says why and how to fix it (paths relative to the root)."""


#: ``<module 'sklearn.linear_model' from '/.../__init__.py'>`` as pickle's errors name a module.
_MODULE_FROM = re.compile(r"(<module '[^']*'(?: \([\w -]+\))?) from [^>]*>")
_QUOTED_PATH = re.compile(r"""(['"])(?:/|[A-Za-z]:\\)[^'"]*\1""")
_BARE_PATH = re.compile(r"(?<![\w.~/-])/[^\s'\"<>()\[\]{},;]+|\b[A-Za-z]:\\[^\s'\"<>]+")
_PYTHON_VERSION = re.compile(r"\b(python) ?\d+\.\d+(?:\.\d+)?", re.IGNORECASE)


def without_server_paths(text: str) -> str:
    """A library's error text as answers may show it: no absolute path, so no installation folder or Python version.

    Paths the repository shows are relative to its root and stay; the log keeps the original text.
    """
    text = _MODULE_FROM.sub(r"\1>", text)
    text = _QUOTED_PATH.sub(r"\1<path>\1", text)
    text = _BARE_PATH.sub("<path>", text)
    return _PYTHON_VERSION.sub(r"\1", text)
