"""The folders of a start: the private server root, and the folders the application's processes share."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Mapping

from app.launch.checks import Refused

_ROOT_FIX = (
    "remove it (find out first who made it and why), or set MODELHOST_SERVER_ROOT to a new path in a folder "
    "only you can write to"
)
#: prometheus_client's <type>_<pid>.db files, and the <type>_ended.db files into which app/core/telemetry.py
#: folds the counts of processes that ended.
_METRICS_FILE = re.compile(
    r"(?:counter|histogram|summary|gauge_(?:live)?(?:all|min|max|sum|mostrecent))_(?:[0123456789]+|ended)\.db"
)
#: What each process serves (process-<pid>.json), a reload request, and files half written.
_STATE_FILES = ("process-*.json", "reload", ".tmp-*")


def server_root(env: Mapping[str, str], uid: int, port: int, cwd: str) -> str:
    """MODELHOST_SERVER_ROOT, else a folder named after the user and the port in /dev/shm, else in TMPDIR.

    Apache looks up paths under the server root on every request (its directory walk below the
    DocumentRoot, mod_wsgi's daemon socket): a tmpfs keeps those lookups in memory, where an overlay
    storage driver (fuse-overlayfs) would answer each one in user space.
    """
    root = env.get("MODELHOST_SERVER_ROOT") or ""
    if not root:
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            root = f"/dev/shm/modelhost-{uid}-{port}"
        else:
            root = f"{env.get('TMPDIR') or '/tmp'}/modelhost-{uid}-{port}"
    return root if root.startswith("/") else f"{cwd}/{root}"


def make_private(path: str, mode: int, uid: int) -> None:
    """Make ``path`` a directory of this user that nobody else can write to (created with ``mode`` when
    missing, given ``mode`` when it exists), or refuse. Checked after it is made, so a directory or link
    another user put there first, or meanwhile, is refused, not used.

    The server root holds the Apache configuration and the control script that starts Apache (it
    sources envvars from there), and the daemon sockets: whoever can write to it runs code as the user
    of the start, as root for ``make run`` as root.
    """
    parent = os.path.dirname(path.rstrip("/")) or "/"
    if not os.path.isdir(parent):
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError:
            raise Refused(
                f"cannot create {parent}, the folder of the server root {path}; create it, or set "
                "MODELHOST_SERVER_ROOT to a path in a folder you can write to"
            ) from None
    perms = stat.S_IMODE(os.stat(parent).st_mode)
    # In a folder others can write to, without the sticky bit, any other user can rename the server
    # root away and put one of their own in its place. One such folder is accepted: a volume mounted
    # there (a file system of its own: a Kubernetes emptyDir, which is root-owned and mode 0777 or 2777,
    # or docker run --tmpfs) while the start runs as an ordinary user that holds no capability and can
    # gain none (no_new_privs: allowPrivilegeEscalation: false, --security-opt no-new-privileges). Then
    # every process of the container, Apache's included, has this uid and none can take another, and
    # the volume is reachable only from this container (and from containers of the same pod that mount
    # it too, which run as the pod's user).
    if perms & 0o022 and not perms & 0o1000 and not _volume_of_its_own(parent, uid):
        raise Refused(
            f"the server root {path} is in {parent}, where other users can replace it (writable by others, "
            "no sticky bit); set MODELHOST_SERVER_ROOT to a path in a folder only you can write to (or in a "
            "volume mounted for this container alone, with privilege escalation off)"
        )
    with contextlib.suppress(OSError):  # there already, or not possible: the checks below tell
        os.mkdir(path, mode)
    if os.path.islink(path):
        raise Refused(f"the server root {path} is a symbolic link; {_ROOT_FIX}")
    if not os.path.exists(path):
        raise Refused(
            f"cannot create the server root {path}; set MODELHOST_SERVER_ROOT to a path in a folder you can " "write to"
        )
    if not os.path.isdir(path):
        raise Refused(f"the server root {path} is not a directory; {_ROOT_FIX}")
    info = os.lstat(path)
    if info.st_uid != uid:
        raise Refused(
            f"the server root {path} belongs to uid {info.st_uid}, not to you (uid {uid}): another user may "
            f"have prepared it; {_ROOT_FIX}"
        )
    if info.st_mode & 0o022:
        raise Refused(
            f"the server root {path} is writable by other users (mode {stat.S_IMODE(info.st_mode):o}), so "
            f"what Apache runs from it may not be yours; {_ROOT_FIX}"
        )
    os.chmod(path, mode)


def _volume_of_its_own(folder: str, uid: int) -> bool:
    """Whether ``folder`` is a mount point and this process is an ordinary user that cannot gain privileges."""
    if uid == 0 or os.stat(folder).st_dev == os.stat(f"{folder}/..").st_dev:
        return False
    with open("/proc/self/status") as status:
        lines = status.read().splitlines()
    no_new_privs = any(re.fullmatch(r"NoNewPrivs:\s*1", line) for line in lines)
    no_capabilities = any(re.fullmatch(r"CapPrm:\s*0*", line) for line in lines)
    return no_new_privs and no_capabilities


def shared(env: Mapping[str, str], var: str, default: str, account: tuple[str, str | None], uid: int, cwd: str) -> str:
    """The folder ``var`` names (``default``, in the server root, when unset), which the account Apache
    runs the application as can write to; its absolute path.

    Folders the start chooses are in the private server root. One a setting names may be any folder,
    which someone may use for more than this server: it is not given to Apache's account, which must
    be able to write to it already.
    """
    run_as, group = account
    path = env.get(var) or default
    ours = not env.get(var)
    path = path if path.startswith("/") else f"{cwd}/{path}"
    if not os.path.isdir(path):
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            raise Refused(
                f"{var}: cannot create the folder {path}; create it, writable by {run_as}, or set {var} to a "
                "folder you can write to"
            ) from None
        ours = True
    if ours:
        if uid == 0:
            shutil.chown(path, run_as, group)
        return path
    if uid == 0:
        writable = (
            subprocess.run(
                ["runuser", "-u", run_as, "--", "test", "-w", path, "-a", "-x", path], check=False
            ).returncode
            == 0
        )
    else:
        writable = os.access(path, os.W_OK | os.X_OK)
    if not writable:
        raise Refused(
            f"{var}: {path} is not writable by {run_as}, the account the application runs as; make it "
            f"writable by that account, or unset {var} for a folder in the server root"
        )
    return path


def remove_earlier_metrics(folder: str) -> None:
    """Remove the Prometheus samples of an earlier start, so its counts do not add to this start's.

    Nothing else there is touched: a folder a setting names may hold other files.
    """
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if _METRICS_FILE.fullmatch(name) and not os.path.isdir(path):
            _remove(path)


def remove_earlier_state(folder: str) -> None:
    """Remove what the processes of an earlier start recorded in the shared state folder, and nothing else."""
    for name in os.listdir(folder):
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in _STATE_FILES):
            _remove(os.path.join(folder, name))


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def check_readable(account: str, paths: list[str]) -> None:
    """Started as root, Apache's children and the application run as ``account``, which must be able to read
    the application and the models."""
    for path in paths:
        if (
            os.path.exists(path)
            and subprocess.run(["runuser", "-u", account, "--", "test", "-r", path], check=False).returncode != 0
        ):
            raise Refused(f"{path} is not readable by {account} (MODELHOST_USER); fix its permissions")
