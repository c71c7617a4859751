"""Load errors in public answers: the exception class and its message, never the server's paths or Python."""
from __future__ import annotations

import logging
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import sklearn.linear_model
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from app import create_app
from app.core.registry import ModelRegistry
from app.core.watcher import load_all

#: A pickle of a class scikit-learn does not have, as an artifact written by another version gives.
MISSING_CLASS = b"csklearn.linear_model\nMissing\n."
#: The answer's text for it: the exception and the module, not the file the module came from.
SHOWN = "cannot read model.pkl: AttributeError: Can't get attribute 'Missing' on <module 'sklearn.linear_model'>"
#: A path no test machine has: an error naming it must not show it.
ABSENT = "/nonexistent-modelhost-root/secret/training.csv"


def leaks(text: str) -> list[str]:
    """What of the server's installation a public text shows."""
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    found = [needle for needle in ("site-packages", sys.prefix, str(Path(sklearn.__file__).parent), python,
                                   "nonexistent-modelhost-root") if needle in text]
    return found + [word for word in text.split() if word.strip("'\"(<[").startswith("/")]


class OpensAFile:
    """Unpickles by opening a file the server does not have (an OSError naming an absolute path)."""

    def __reduce__(self):
        return open, (ABSENT,)


def reads_a_file(rows):
    """A pipeline step that needs a file the server does not have."""
    with open(ABSENT) as fh:
        return fh.read()


def test_the_three_listings_show_the_exception_without_the_library_path_and_the_log_keeps_it(repo, tmp_path):
    (repo / "linear" / "1" / "model.pkl").write_bytes(MISSING_CLASS)
    log_file = tmp_path / "modelhost.log"
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "LOG_FILE": str(log_file)})
    client = app.test_client()

    ready = client.get("/health/ready")
    model = client.get("/v1/models/linear")  # /v1/models itself lists each model's status only
    version = client.get("/v1/models/linear/versions/1")
    listing = client.get("/v1/repository")
    assert ready.status_code == 503 and listing.status_code == 200
    assert model.get_json()["error"] == version.get_json()["error"] == SHOWN
    for answer in (ready, model, version, listing, client.get("/v1/models")):
        text = answer.get_data(as_text=True)
        assert leaks(text) == [], text
        assert SHOWN in text or answer.request.path == "/v1/models", text
    linear = next(m for m in listing.get_json()["models"] if m["name"] == "linear")
    assert linear["versions"][0]["error"] == SHOWN

    for handler in logging.getLogger("app").handlers:
        handler.flush()
    logged = log_file.read_text()
    assert f"Can't get attribute 'Missing' on <module 'sklearn.linear_model' from '{sklearn.linear_model.__file__}'>" \
        in logged, logged


def _registry(root: Path) -> ModelRegistry:
    registry = ModelRegistry(root, [])
    load_all(registry)
    return registry


@pytest.mark.parametrize("artifact", ["model.pkl", "model.joblib"])
def test_an_os_error_while_unpickling_shows_no_absolute_path(tmp_path, artifact, caplog):
    directory = tmp_path / "m" / "1"
    directory.mkdir(parents=True)
    (directory / artifact).write_bytes(pickle.dumps(OpensAFile()))
    with caplog.at_level(logging.ERROR):
        entry = _registry(tmp_path).get("m")
    assert entry.status == "failed"
    assert entry.error == f"cannot read {artifact}: FileNotFoundError: [Errno 2] No such file or directory: '<path>'"
    assert f"m/1/{artifact} failed" in caplog.text and ABSENT in caplog.text, "the log keeps the whole text"


def test_a_trial_prediction_that_fails_on_a_server_path_does_not_show_it(tmp_path, caplog, write_version):
    pipe = make_pipeline(FunctionTransformer(), LinearRegression()).fit([[1.0], [2.0], [3.0]], [1, 2, 3])
    pipe.steps[0][1].func = reads_a_file
    write_version(tmp_path, "needs", 1, pipe, artifact="model.pkl")
    with caplog.at_level(logging.ERROR):
        entry = _registry(tmp_path).get("needs")
    assert entry.status == "failed"
    assert "a trial prediction of the example instance failed (FileNotFoundError: [Errno 2] No such file or " \
           "directory: '<path>')" in entry.error, entry.error
    assert leaks(entry.error) == [], entry.error
    assert ABSENT in caplog.text


@pytest.mark.parametrize("text, shown", [
    ("Can't get attribute 'X' on <module 'a.b' from '/opt/venv/lib/python3.11/site-packages/a/b/__init__.py'>",
     "Can't get attribute 'X' on <module 'a.b'>"),
    ("Can't get attribute 'X' on <module 'ns' (namespace) from ['/srv/lib/ns']>",
     "Can't get attribute 'X' on <module 'ns' (namespace)>"),
    ("[Errno 13] Permission denied: '/srv/models/iris/2/model.json'", "[Errno 13] Permission denied: '<path>'"),
    ('cannot load "/usr/lib/python3.12/lib-dynload/_x.so": bad ELF', 'cannot load "<path>": bad ELF'),
    ("failed at /usr/local/lib/libgomp.so.1 while loading", "failed at <path> while loading"),
    (r"No such file: 'C:\Program Files\Python311\Lib\x.py'", "No such file: '<path>'"),
    ("built by Python 3.11.7, this is python3.12", "built by Python, this is python"),
    # What is not a path of the server stays as it was.
    ("iris/2/model.pkl has 1/2 of its rows, and/or a ratio of 3 / 4", None),
    ("<module 'builtins' (built-in)>", None),
])
def test_without_server_paths(text, shown):
    from app.storage.errors import without_server_paths

    assert without_server_paths(text) == (text if shown is None else shown)


def refuses_large_values(rows):
    """A pipeline step whose error for some input names a file of the server."""
    if (np.asarray(rows) > 100).any():
        raise ValueError(f"values over 100 need the table in {ABSENT}")
    return rows


def test_input_a_model_rejects_is_answered_without_the_server_paths_in_its_error(tmp_path, caplog, write_version):
    pipe = make_pipeline(FunctionTransformer(refuses_large_values), LinearRegression())
    write_version(tmp_path, "strict", 1, pipe.fit([[1.0], [2.0], [3.0]], [1, 2, 3]), artifact="model.pkl")
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(tmp_path)}).test_client()
    with caplog.at_level(logging.WARNING):
        answer = client.post("/v1/models/strict/predict", json={"x_0": 500})
    assert answer.status_code == 400
    assert answer.get_json()["detail"] == "The model rejected the input: values over 100 need the table in <path>"
    assert ABSENT in caplog.text, "the log keeps the whole text"


def test_an_unexpected_load_failure_shows_its_class_and_message_without_paths(repo, monkeypatch):
    import app.core.registry as registry_module

    def fails(*args, **kwargs):
        raise RuntimeError(f"cannot map {sys.prefix}/lib/{Path(sklearn.__file__).name} at {ABSENT}")

    monkeypatch.setattr(registry_module, "open_version", fails)
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client()
    error = client.get("/v1/models/linear/versions/1").get_json()["error"]
    assert error.startswith("loading failed unexpectedly (RuntimeError: cannot map"), error
    assert leaks(error) == [], error
