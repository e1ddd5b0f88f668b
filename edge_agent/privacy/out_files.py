"""Where a command may write what it is asked to: never into data_dir, never through a symlink.

A crop written to `<data_dir>/keys/day-<today>.key` once replaced the day's
encryption key, and a crop written over a 0644 file stayed world-readable
with a plate in it. So every path a command is given to write is checked
against data_dir after resolving symlinks and `..`, and written as a new
0600 file: an existing name (a file, or a symlink, dangling or not) is
refused unless the user asked to overwrite, and then it is replaced through a
new temporary file, so a symlink there is replaced, never followed, and an
old file's mode never carries over.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from . import data_owner
from ..errors import InputError


def inside(path: str | Path, folder: str | Path) -> bool:
    """Whether `path` is `folder` or lies under it, once symlinks and `..` are resolved."""
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def refuse_inside(path: str | Path, data_dir: str | Path, option: str = "--out") -> None:
    """One line and exit 2 when a command is asked to write into the agent's own files."""
    if inside(path, data_dir):
        raise InputError(f"{option} {path}: inside data_dir {data_dir}, which only the agent writes")


def refuse_in_unit_data_dir(path: str | Path, option: str) -> None:
    """For commands that take no config (demo, hotlist keygen and sign): the installed unit's data_dir."""
    from ..config import DEFAULT_CONFIG_PATH, ConfigError, load_config
    from ..config.storage import StorageConfig

    folders = {StorageConfig().data_dir}
    if os.path.exists(DEFAULT_CONFIG_PATH):
        try:
            folders.add(load_config(DEFAULT_CONFIG_PATH, check_files=False).storage.data_dir)
        except (ConfigError, OSError):
            pass  # unreadable or broken: the default place is still guarded
    for folder in sorted(folders):
        refuse_inside(path, folder, option)


def check_new(path: str | Path, *, overwrite: bool, what: str = "") -> None:
    """Refuse, before anything is written, a name that exists (unless overwriting) or cannot be made."""
    path = Path(path)
    if os.path.lexists(path) and not overwrite:
        raise InputError(f"{what}{path} already exists; add --overwrite to replace it")
    if os.path.isdir(path) and not os.path.islink(path):
        raise InputError(f"{what}{path} is a folder; name a file")
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"{what}{parent}: no such folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{what}cannot write into {parent}: permission denied{_as_whom()}")


def write_file(path: str | Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write `data` to `path` as a new 0600 file (see the module's rules)."""
    path = Path(path)
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}{_as_whom()}") from None
    try:
        write_at(folder, path.name, data, overwrite=overwrite, shown=path)
    finally:
        os.close(folder)
    return path


def write_at(folder: int, name: str, data: bytes, *, overwrite: bool, shown: Path) -> None:
    """Write `name` inside the open folder `folder`: a folder swapped for a symlink meanwhile is not followed."""
    target = f".{name}.{secrets.token_hex(4)}.tmp" if overwrite else name
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(target, flags, 0o600, dir_fd=folder)
    except FileExistsError:
        raise InputError(f"{shown} already exists; add --overwrite to replace it") from None
    except OSError as exc:
        raise InputError(f"cannot write {shown}: {exc.strerror or exc}{_as_whom()}") from None
    try:
        os.fchmod(fd, 0o600)  # the umask may take more away; nobody else is ever given more
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(target, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError as exc:
        if overwrite:
            try:
                os.unlink(target, dir_fd=folder)
            except OSError:
                pass  # already gone or renamed: nothing left behind to clean
        raise InputError(f"cannot write {shown}: {exc.strerror or exc}") from None


def open_private_folder(path: str | Path) -> int:
    """An open descriptor of the folder at `path`, made 0700 if new; a symlink there is refused."""
    path = Path(path)
    if os.path.islink(path):
        raise InputError(f"--out {path} is a symlink; name the folder itself")
    if not os.path.lexists(path):
        try:
            path.mkdir(mode=0o700, parents=True)
            os.chmod(path, 0o700)  # mkdir's mode is subject to the umask
        except OSError as exc:
            raise InputError(f"--out {path}: cannot make the folder: {exc.strerror or exc}{_as_whom()}") from None
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        reason = "not a folder" if exc.errno in (errno.ENOTDIR, errno.ELOOP) else (exc.strerror or str(exc))
        raise InputError(f"--out {path}: {reason}") from None


def _as_whom() -> str:
    # After a switch from root, a folder root could write may not be the owner's to write.
    who = data_owner.switched_to
    return f" (the command runs as '{who}', the owner of data_dir)" if who else ""
