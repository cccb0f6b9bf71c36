"""Landlock (Linux 5.13+): unprivileged, kernel-enforced file access rules.

sysvisor uses it as the confinement view's *backstop*: the Confine layer
executes path calls on the program's behalf (layers/confine/); Landlock
makes the kernel itself refuse what the view does not contain for the
calls that the program still makes natively (the execve the kernel must
resolve itself, and anything a bug would let through).

Which ABI each right needs (LANDLOCK_CREATE_RULESET_VERSION):

    right                     ABI  Linux  rule that uses it
    EXECUTE .. MAKE_SYM       1    5.13   every mount of the view (execute,
                                          read file/dir on all; write,
                                          remove and make* only on writable
                                          mounts)
    REFER                     2    5.19   writable mounts (rename/link
                                          between directories; without v2
                                          the kernel refuses cross-directory
                                          rename/link of the program itself)
    TRUNCATE                  3    6.2    writable mounts (truncate(2),
                                          O_TRUNC); not handled before v3:
                                          truncation is then unrestricted
    IOCTL_DEV                 5    6.10   every mount (device ioctls); not
                                          handled before v5
    (v4 TCP, v6 scoping, v7 audit: not used by the file view. v6's
    abstract-socket scope would not help: Confine connects unix sockets on
    the program's behalf, from the unrestricted supervisor)

Without ABI 1 there is no backstop: Confine says so once and lets an exec
run only when nothing can race it (layers/confine/execs.py). Not covered
by any ABI, hence done by the supervisor alone: chmod, chown, utimes and
xattrs (metadata), stat, connect/sendto to pathname unix sockets
(layers/confine/sockets.py executes them). memfds are never restricted (a
program may run code it wrote itself, which is no escape from the view).

A ruleset handles (denies by default) every right the running kernel
knows among these; each rule grants a subset beneath one directory. The
supervisor builds the ruleset; a layer hands it to the engine with
Layer.spawn_setup (sysvisor.spawn.Landlock), and the spawned child applies
it with landlock_restrict_self after PR_SET_NO_NEW_PRIVS, before the
seccomp filter and exec (_native.spawn); the supervisor itself is never
restricted.
"""
from __future__ import annotations

import errno
import os

from .. import _native

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5

V1_ALL = (1 << 13) - 1
READ = EXECUTE | READ_FILE | READ_DIR
WRITE = (V1_ALL & ~READ) | REFER | TRUNCATE

# the ABI that introduced each right beyond v1
RIGHT_ABI = {REFER: 2, TRUNCATE: 3, IOCTL_DEV: 5}


def abi_version() -> int:
    """The kernel's Landlock ABI (0: no Landlock, or disabled at boot)."""
    try:
        return _native.landlock_create_ruleset(0, 0, 0, 1)
    except OSError as e:
        if e.errno in (errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
            return 0
        raise


def handled_rights(abi: int) -> int:
    """The file rights a ruleset handles on this ABI."""
    if abi < 1:
        return 0
    rights = V1_ALL
    for right, need in RIGHT_ABI.items():
        if abi >= need:
            rights |= right
    return rights


def rights_for(readonly: bool, abi: int) -> int:
    """What a mount of the view grants: read + execute (+ device ioctls),
    and every write right unless read-only."""
    allowed = READ | IOCTL_DEV | (0 if readonly else WRITE)
    return allowed & handled_rights(abi)


class Ruleset:
    """A Landlock ruleset fd built from (directory fd, readonly) rules.

        rs = Ruleset.build([(rootfd, False, "/srv/root"), (usrfd, True, "/usr")])
        if rs: return [sysvisor.spawn.Landlock(rs.fd)]   # from Layer.spawn_setup
    """

    def __init__(self, fd: int, abi: int, rules: list[tuple[str, int]]):
        self.fd = fd
        self.abi = abi
        self.rules = rules  # (description, allowed rights), for the report

    @classmethod
    def build(cls, mounts: list[tuple[int, bool, str]]) -> "Ruleset | None":
        """mounts: (O_PATH directory fd, readonly, description). None when
        the kernel has no Landlock (the caller says so: honest fallback)."""
        abi = abi_version()
        if abi < 1:
            return None
        fd = _native.landlock_create_ruleset(handled_rights(abi))
        rules = []
        try:
            for dfd, readonly, what in mounts:
                allowed = rights_for(readonly, abi)
                _native.landlock_add_path_rule(fd, allowed, dfd)
                rules.append((what, allowed))
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, abi, rules)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)
