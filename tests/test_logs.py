"""Request ids and the one access line per request, as text, JSON, or into a rotating file."""
from __future__ import annotations

import json
import logging

import pytest
from flask import request

from app import create_app


def test_well_formed_request_id_is_honoured(client):
    response = client.get("/health/live", headers={"X-Request-ID": "abc-123.x:y_z"})
    assert response.headers["X-Request-ID"] == "abc-123.x:y_z"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "semi;colon", ""])
def test_malformed_request_id_is_replaced(client, bad):
    response = client.get("/health/live", headers={"X-Request-ID": bad})
    assert response.headers["X-Request-ID"] != bad and len(response.headers["X-Request-ID"]) == 32


def test_access_line_carries_request_fields(client, caplog, setosa):
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.post("/v1/models/iris/predict", json={"instances": [setosa, setosa]},
                    headers={"X-Request-ID": "req-1"})
    [record] = [r for r in caplog.records if r.name == "app.access"]
    assert (record.method, record.path, record.status) == ("POST", "/v1/models/iris/predict", 200)
    assert (record.model, record.version, record.batch_size, record.request_id) == ("iris", "2", 2, "req-1")
    assert record.duration_ms >= 0


def test_the_access_line_names_the_user_apache_signed_in(client, caplog):
    """REMOTE_USER (LDAP sign-in behind Apache) is the access line's user; without one there is none."""
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.get("/v1/models", environ_base={"REMOTE_USER": "alice"})
        client.get("/v1/models")
    signed_in, anonymous = [r for r in caplog.records if r.name == "app.access"]
    assert signed_in.user == "alice" and signed_in.getMessage().endswith(" user=alice")
    assert anonymous.user is None and "user=" not in anonymous.getMessage()


def test_the_user_is_a_key_of_the_json_access_line_and_escaped_in_text(repo, capfd):
    for log_format in ("json", "text"):
        app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "LOG_FORMAT": log_format,
                          "LOG_FLUSH_MS": 0})
        capfd.readouterr()
        app.test_client().get("/health/live", environ_base={"REMOTE_USER": "bob\nFORGED"})
        [line] = [line for line in capfd.readouterr().err.splitlines() if "app.access" in line]
        if log_format == "json":
            assert json.loads(line)["user"] == "bob\nFORGED"
        else:
            assert " app.access: GET /health/live 200 " in line and line.endswith("ms user=bob\\nFORGED")


def test_json_log_file_rotates_and_compresses(repo, tmp_path):
    log_file = tmp_path / "logs" / "modelhost.log"
    log_file.parent.mkdir()
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "LOG_FILE": str(log_file),
                      "LOG_FORMAT": "json", "LOG_MAX_BYTES": 2000, "LOG_BACKUP_COUNT": 2})
    client = app.test_client()
    for _ in range(40):
        client.get("/health/live", headers={"X-Request-ID": "rot-1"})
    for handler in logging.getLogger("app").handlers:
        handler.flush()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    access = [line for line in lines if line["logger"] == "app.access"]
    assert access and access[-1]["request_id"] == "rot-1" and access[-1]["status"] == 200
    assert {"time", "level", "message", "path", "duration_ms"} <= set(access[-1])
    assert sorted(p.name for p in log_file.parent.glob("*.gz")), "rotated files are gzip-compressed"


def test_forest_predictions_do_not_warn_in_an_interpreter_without_warning_filters(repo, recwarn, write_version):
    import warnings

    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(np.eye(4), [0, 1, 0, 1])
    write_version(repo, "forest", 1, forest)
    saved = list(warnings.filters)
    warnings.resetwarnings()  # what mod_wsgi's embedded interpreter starts with
    try:
        client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client()
        for _ in range(3):
            assert client.post("/v1/models/forest/predict", json={"instances": [[1, 0, 0, 0]]}).status_code == 200
    finally:
        warnings.filters[:] = saved
    assert not [w for w in recwarn if "sklearn.utils.parallel.delayed" in str(w.message)]


def test_log_lines_go_to_descriptor_2_not_a_wrapped_sys_stderr(repo, capfd, monkeypatch):
    """mod_wsgi wraps sys.stderr and prefixes every line with [wsgi:error]; descriptor 2 is clean."""
    import io
    import sys

    wrapper = io.StringIO()
    monkeypatch.setattr(sys, "stderr", wrapper)
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "LOG_FORMAT": "json"})
    app.test_client().get("/health/live", headers={"X-Request-ID": "fd-2"})
    for handler in logging.getLogger("app").handlers:
        handler.flush()
    written = capfd.readouterr().err.splitlines()
    access = [json.loads(line) for line in written if '"app.access"' in line]
    assert access and access[-1]["request_id"] == "fd-2"
    assert wrapper.getvalue() == ""


def test_lines_are_held_for_one_batched_write_and_a_warning_writes_them_at_once(repo, capfd):
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "LOG_FLUSH_MS": 60_000})
    capfd.readouterr()
    app.test_client().get("/health/live", headers={"X-Request-ID": "batched-1"})
    assert "batched-1" not in capfd.readouterr().err, "the access line waits for the batch"
    logging.getLogger("app.test").warning("written at once")
    written = capfd.readouterr().err
    assert "written at once" in written and "batched-1" in written


def test_the_flusher_thread_writes_held_lines_within_the_interval(repo, capfd):
    import time

    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "LOG_FLUSH_MS": 50})
    app.test_client().get("/health/live", headers={"X-Request-ID": "batched-2"})
    seen, deadline = "", time.monotonic() + 5
    while "batched-2" not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
        seen += capfd.readouterr().err
    assert "batched-2" in seen


#: A path that, decoded, would end its access line and write a forged ERROR record, then use
#: CR, an ANSI escape, NEL, DEL and U+2028 (all of which a terminal or a log viewer may act on).
FORGING_PATH = "/nope%0a2026-01-01 00:00:00,000 ERROR [forged] app: FORGED%0d%1b[2K%c2%85%7f%e2%80%a8end"
FORGED_TEXT = "\n2026-01-01 00:00:00,000 ERROR [forged] app: FORGED"


def _app_that_fails_with(repo, log_format: str):
    """An app whose /fail?text=... raises an exception quoting the client's text."""
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "LOG_FORMAT": log_format,
                      "LOG_FLUSH_MS": 0})

    def fail():
        raise RuntimeError(f"cannot use {request.args['text']}")

    app.add_url_rule("/fail", view_func=fail)
    return app.test_client()


def test_control_characters_in_a_path_are_escaped_in_the_text_access_line(repo, capfd):
    client = _app_that_fails_with(repo, "text")
    capfd.readouterr()
    assert client.get(FORGING_PATH, headers={"X-Request-ID": "inject-1"}).status_code == 404
    logging.getLogger("app.test").warning("model %s not found", "a\nb\x00c")
    # splitlines() breaks at every character a viewer might break at, not only at LF.
    lines = capfd.readouterr().err.splitlines()
    assert not [line for line in lines if line.startswith("2026-01-01")], lines
    [access] = [line for line in lines if "FORGED" in line]
    assert "[inject-1] app.access: GET /nope\\n2026-01-01 00:00:00,000 ERROR" in access
    assert access.split(" 404 ")[0].endswith("FORGED\\r\\x1b[2K\\x85\\x7f\\u2028end")
    [warning] = [line for line in lines if "app.test" in line]
    assert warning.endswith("model a\\nb\\x00c not found")


def test_a_traceback_keeps_its_lines_but_an_exception_message_cannot_start_a_record(repo, capfd):
    client = _app_that_fails_with(repo, "text")
    capfd.readouterr()
    assert client.get("/fail?text=x%0a2026-01-01 00:00:00,000 ERROR [forged] app: FORGED").status_code == 500
    lines = capfd.readouterr().err.splitlines()
    first = next(i for i, line in enumerate(lines) if "Unhandled error while serving GET /fail" in line)
    traceback = lines[first + 1:next(i for i, line in enumerate(lines) if "app.access" in line)]
    assert traceback[0] == "  Traceback (most recent call last):"
    assert all(line.startswith("  ") for line in traceback), traceback
    assert "  RuntimeError: cannot use x" in traceback
    assert "  2026-01-01 00:00:00,000 ERROR [forged] app: FORGED" in traceback
    assert not [line for line in lines if line.startswith("2026-01-01")]


def test_json_log_records_stay_one_line_each_with_the_values_intact(repo, capfd):
    client = _app_that_fails_with(repo, "json")
    capfd.readouterr()
    client.get(FORGING_PATH)
    client.get("/fail?text=x%0a2026-01-01 00:00:00,000 ERROR [forged] app: FORGED")
    records = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line]
    paths = [r["path"] for r in records if r["logger"] == "app.access"]
    assert paths[0] == "/nope" + FORGED_TEXT + "\r\x1b[2K\x85\x7f\u2028end"
    [failure] = [r for r in records if r["level"] == "ERROR"]
    assert "RuntimeError: cannot use x" + FORGED_TEXT in failure["exc_info"]


def test_a_warning_is_written_once_even_when_the_filters_keep_being_reset(app):
    import io
    import warnings

    from app.logs import ensure_warning_filters

    ensure_warning_filters()
    stream = io.StringIO()
    previous = warnings.showwarning._show
    warnings.showwarning._show = lambda message, category, filename, lineno, file=None, line=None: \
        stream.write(f"{category.__name__}: {message}\n")
    try:
        for _ in range(50):
            warnings.resetwarnings()  # what scikit-learn's joblib wrapper does around every call
            warnings.simplefilter("always")
            warnings.warn("delayed should be used with Parallel", UserWarning, stacklevel=1)
        warnings.warn("another warning", UserWarning, stacklevel=1)
    finally:
        warnings.showwarning._show = previous
        warnings.resetwarnings()
        warnings.simplefilter("default")
    assert stream.getvalue().splitlines() == ["UserWarning: delayed should be used with Parallel",
                                              "UserWarning: another warning"]
