"""The folders of a start (app/launch/folders.py): a private server root, shared folders, earlier files removed."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.launch import folders
from app.launch.checks import Refused

UID = os.geteuid()
MODE = 0o755 if UID == 0 else 0o700


def test_the_server_root_is_the_setting_else_named_after_the_user_and_port(tmp_path, monkeypatch):
    assert folders.server_root({"MODELHOST_SERVER_ROOT": "/srv/root"}, 7, 8000, "/cwd") == "/srv/root"
    assert folders.server_root({"MODELHOST_SERVER_ROOT": "root"}, 7, 8000, "/cwd") == "/cwd/root"
    monkeypatch.setattr(folders.os.path, "isdir", lambda path: False)  # no /dev/shm
    assert folders.server_root({"TMPDIR": str(tmp_path)}, 7, 8001, "/") == f"{tmp_path}/modelhost-7-8001"
    assert folders.server_root({"TMPDIR": ""}, 7, 8001, "/") == "/tmp/modelhost-7-8001"


def test_a_missing_server_root_is_made_private(tmp_path):
    root = tmp_path / "parent" / "server-root"
    folders.make_private(str(root), MODE, UID)
    assert stat.S_IMODE(root.stat().st_mode) == MODE and root.stat().st_uid == UID


def test_an_existing_server_root_of_this_user_gets_the_mode(tmp_path):
    root = tmp_path / "server-root"
    root.mkdir(mode=0o750)
    folders.make_private(str(root) + "/", MODE, UID)
    assert stat.S_IMODE(root.stat().st_mode) == MODE


FIX = ("remove it (find out first who made it and why), or set MODELHOST_SERVER_ROOT to a new path in a folder only "
       "you can write to")


@pytest.mark.parametrize(("kind", "message"), [
    ("symbolic link", "the server root {root} is a symbolic link; " + FIX),
    ("file", "the server root {root} is not a directory; " + FIX),
    ("group-writable", "the server root {root} is writable by other users (mode 770), so what Apache runs from it may "
                       "not be yours; " + FIX),
    ("sticky", "the server root {root} is writable by other users (mode 1777), so what Apache runs from it may not be "
               "yours; " + FIX),
])
def test_a_server_root_someone_else_could_control_is_refused(tmp_path, kind, message):
    root = tmp_path / "server-root"
    if kind == "symbolic link":
        (tmp_path / "elsewhere").mkdir()
        root.symlink_to(tmp_path / "elsewhere")
    elif kind == "file":
        root.write_text("")
    else:
        root.mkdir()
        root.chmod(0o770 if kind == "group-writable" else 0o1777)
    with pytest.raises(Refused) as refused:
        folders.make_private(str(root), MODE, UID)
    assert str(refused.value) == message.format(root=root)


def test_a_server_root_of_another_user_is_refused(tmp_path):
    root = tmp_path / "server-root"
    root.mkdir()
    with pytest.raises(Refused) as refused:
        folders.make_private(str(root), MODE, UID + 1)
    assert str(refused.value) == (f"the server root {root} belongs to uid {UID}, not to you (uid {UID + 1}): another "
                                  f"user may have prepared it; {FIX}")


def test_a_server_root_in_a_folder_anyone_can_replace_it_in_is_refused(tmp_path):
    parent = tmp_path / "open"
    parent.mkdir()
    parent.chmod(0o777)
    root = parent / "server-root"
    with pytest.raises(Refused) as refused:
        folders.make_private(str(root), MODE, UID)
    assert str(refused.value).startswith(f"the server root {root} is in {parent}, where other users can replace it")
    assert not root.exists(), "refused before it was made"


def test_a_shared_folder_the_setting_names_is_made_absolute_and_must_be_writable(tmp_path):
    account = ("nobody", "nogroup") if UID == 0 else (str(UID), None)
    path = folders.shared({"MODELHOST_STATE_DIR": "state"}, "MODELHOST_STATE_DIR", "/unused", account, UID,
                          str(tmp_path))
    assert path == f"{tmp_path}/state" and Path(path).is_dir()
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o555)
    if UID != 0:
        with pytest.raises(Refused) as refused:
            folders.shared({"MODELHOST_STATE_DIR": str(theirs)}, "MODELHOST_STATE_DIR", "/unused", account, UID, "/")
        assert str(refused.value) == (f"MODELHOST_STATE_DIR: {theirs} is not writable by {account[0]}, the account "
                                      "the application runs as; make it writable by that account, or unset "
                                      "MODELHOST_STATE_DIR for a folder in the server root")


def test_a_shared_folder_that_cannot_be_made_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(Refused) as refused:
        folders.shared({}, "PROMETHEUS_MULTIPROC_DIR", f"{tmp_path}/file/prometheus", ("me", None), 1, "/")
    assert str(refused.value) == (f"PROMETHEUS_MULTIPROC_DIR: cannot create the folder {tmp_path}/file/prometheus; "
                                  "create it, writable by me, or set PROMETHEUS_MULTIPROC_DIR to a folder you can "
                                  "write to")


def test_only_the_metrics_and_state_of_an_earlier_start_are_removed(tmp_path):
    metrics, state = tmp_path / "metrics", tmp_path / "state"
    ours = ["counter_12.db", "gauge_livesum_34.db", "gauge_all_5.db", "histogram_ended.db", "summary_8.db"]
    others = ["important.txt", "users.db", "counter.db", "counter_x.db", ".counter_1.db"]
    for folder, names in ((metrics, ours + others), (state, ["process-1.json", "reload", ".tmp-abc", "notes.txt",
                                                             "process-notes.txt"])):
        folder.mkdir()
        for name in names:
            (folder / name).write_text(name)
    (metrics / "counter_9.db.d").mkdir()
    (metrics / "histogram_7.db").mkdir()  # a folder of that name is not a sample file
    folders.remove_earlier_metrics(str(metrics))
    folders.remove_earlier_state(str(state))
    assert sorted(p.name for p in metrics.iterdir()) == sorted([*others, "counter_9.db.d", "histogram_7.db"])
    assert sorted(p.name for p in state.iterdir()) == ["notes.txt", "process-notes.txt"]
