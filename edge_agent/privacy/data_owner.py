"""Commands that open the store or write into data_dir run as data_dir's owner.

A command run as root beside the service leaves root-owned files in data_dir
(a held hit's key, hotlist.lock, a new access.log) that the service, running
as its own user, then cannot open: it crash-loops until someone chowns them.
So such a command, run as root, becomes the owner of data_dir before it
opens anything; run as anyone else, it is refused with the command to use.
"""

from __future__ import annotations

import os
import pwd
import shlex
from pathlib import Path

from .audit import login_name
from ..errors import AgentError, InputError

switched_to: str | None = None  # the account a root command became, for error messages


def run_as_data_owner(data_dir: str | Path, argv: list[str]) -> None:
    """Become data_dir's owner (as root) or refuse (exit 2); nothing to do if it does not exist yet."""
    global switched_to
    try:
        info = os.stat(data_dir)
    except FileNotFoundError:
        return  # nothing there yet to leave foreign files in
    except OSError as exc:
        raise InputError(f"data_dir {data_dir}: cannot check its owner: {exc.strerror or exc}") from None
    euid, owner = os.geteuid(), info.st_uid
    if euid == owner:
        return
    try:
        account: pwd.struct_passwd | None = pwd.getpwuid(owner)
    except KeyError:  # an owner without a passwd entry, as in some containers
        account = None
    name = account.pw_name if account else f"uid {owner}"
    if euid != 0:
        sudo = "sudo" if owner == 0 else f"sudo -u {shlex.quote(account.pw_name if account else f'#{owner}')}"
        raise InputError(f"data_dir {data_dir} belongs to '{name}'; run as: {sudo} edge-agent {shlex.join(argv)}")
    # The access log names the login behind a command (audit.login_name): keep
    # naming the person who ran it, not the account it switched to.
    os.environ.setdefault("SUDO_USER", login_name())
    gid = account.pw_gid if account else info.st_gid
    try:
        if account:
            os.initgroups(account.pw_name, gid)  # as the service has them: `video` for the camera
        else:
            os.setgroups([])
        os.setgid(gid)
        os.setuid(owner)  # real, effective and saved: there is no way back to root
    except OSError as exc:
        raise AgentError(f"cannot switch to '{name}', the owner of data_dir {data_dir}: "
                         f"{exc.strerror or exc}", exit_code=2) from None
    switched_to = name
