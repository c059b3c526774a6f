"""The state home ($PROCOPS_HOME) and the files procops keeps there.

Layout::

    $PROCOPS_HOME/
      journal.db          the evidence journal
      procops.db          incidents, drills, release state (areas' own tables)
      secrets/            generated secrets, mode 0600
      sandbox/            the reference platform's data, configs, pids, logs
      monitoring/         generated Prometheus/Alertmanager configs and data
      backup/             embedded restic repositories and their state
      reports/            readiness, load-test, incident reports
      textfile/           node_exporter textfile directory (procops_*.prom)
      locks/              advisory locks of batch jobs

Everything here is private to the operator: the home and its folders are 0700,
files 0600. :func:`private_umask` (set by the CLI at start, and by
:func:`state_home`) makes every file procops or its children create
(sqlite databases, documents, logs) private; :func:`atomic_write` writes 0600
unless a caller asks for another mode (systemd units are 0644), and
:func:`private_file` creates a database file 0600 before sqlite opens it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets as _secrets
import tempfile
from pathlib import Path
from collections.abc import Iterator

from procops.errors import BadInput, EnvironmentFailure

from procops.i18n import _

PROJECT_ROOT = Path(__file__).resolve().parent.parent


PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_umask() -> None:
    """Files and folders created from now on (by this process and its children) are private."""
    os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)


def private_dir(d: Path) -> Path:
    """Create ``d`` (and parents) 0700; an existing one is tightened to 0700."""
    d.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if d.stat().st_mode & 0o777 != DIR_MODE:
        os.chmod(d, DIR_MODE)
    return d


def private_file(path: Path) -> Path:
    """Create ``path`` 0600 if it is missing (before sqlite opens it); an existing one is tightened to 0600."""
    path = Path(path)
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    # An existing file is never opened here: closing any descriptor of a file drops every POSIX
    # lock this process holds on it, including the locks of an sqlite connection kept open (the
    # webhook's journal), after which another process may delete the WAL under that connection.
    try:
        st = os.stat(path)
    except FileNotFoundError:
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            st = os.stat(path)
        else:
            return path
    if st.st_mode & 0o077:
        os.chmod(path, FILE_MODE)
    if not os.access(path, os.R_OK | os.W_OK):  # read-only, immutable (chattr +i: even for root)
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES) + " (cannot be written)", str(path))
    return path


def make_private_tree(root: Path) -> None:
    """Take group and other permissions off ``root`` and everything under it (restored files)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, None]:
            p = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(p)
            if st.st_mode & 0o077 and not os.path.islink(p):
                os.chmod(p, st.st_mode & 0o7700)


def state_home() -> Path:
    env = os.environ.get("PROCOPS_HOME")
    if env:
        p = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        p = Path(xdg) / "procops"
    private_umask()
    return private_dir(p).resolve()


def area_dir(name: str) -> Path:
    return private_dir(state_home() / name)


def project_path(*parts: str) -> Path:
    """A file shipped with the project (runbooks/, playbooks/, ...)."""
    return PROJECT_ROOT.joinpath(*parts)


def atomic_write(path: Path, data: bytes | str, mode: int = FILE_MODE) -> None:
    """Write to a temporary file in the same folder, fsync, rename over ``path`` (0600 unless ``mode``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_secret_file(path: Path) -> None:
    """A secret file must exist and not be readable by group or others."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise BadInput(_("secret file {path} does not exist").format(path=path)) from None
    if st.st_mode & 0o077:
        raise BadInput(
            _("secret file {path} is readable by group or others (mode {oct}); run: chmod 600 {path}").format(
                path=path, oct=oct(st.st_mode & 0o777)
            )
        )


def generated_secret(name: str) -> Path:
    """Path of a generated secret in $PROCOPS_HOME/secrets, created (0600) on first use."""
    d = area_dir("secrets")
    p = d / name
    if not p.exists():
        with contextlib.suppress(FileExistsError):
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(_secrets.token_urlsafe(32) + "\n")
    return p


def read_secret(path: Path) -> str:
    check_secret_file(path)
    return path.read_text().strip()


class LockHeld(EnvironmentFailure):
    pass


@contextlib.contextmanager
def exclusive_lock(name: str, *, wait: bool = False) -> Iterator[Path]:
    """An flock on $PROCOPS_HOME/locks/NAME.lock holding this pid.

    A second holder gets :class:`LockHeld` (exit 3) naming the holder's pid.
    """
    path = area_dir("locks") / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise LockHeld(
                _("another '{name}' run holds the lock {path} (pid {pid})").format(name=name, path=path, pid=holder),
                hint=_("wait for it to finish, or check that pid {pid} is really procops").format(pid=holder),
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)
