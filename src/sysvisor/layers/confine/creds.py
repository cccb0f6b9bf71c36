"""Acting as the program: its credentials and umask, for calls the
supervisor executes on its behalf.

The program starts with the supervisor's credentials and umask (it is
spawned by it, with NO_NEW_PRIVS: no exec can raise them). They can only
change through set*id, setgroups, setfs*id, capset and umask, which Confine
watches (the calls then run as made); until one of them is seen, nothing
needs to be read or switched. Afterwards each action reads the calling
thread's /proc/TID/status (one read, parsed in C) and, if the thread's
credentials differ from the supervisor's, the receiver thread takes them
for the action with raw per-thread system calls (ids, groups, effective
capabilities, plus CAP_SYS_PTRACE to keep reading its memory;
_native.thread_creds) and switches back afterwards. So files
are created with the program's owner, permission checks are the program's,
and a unix socket connected on its behalf carries its uid and gid
(SO_PEERCRED; the pid is the supervisor's). An unprivileged supervisor has
nothing more than its program and never switches.
"""
from __future__ import annotations

import errno
import os

from ... import _native

# the calls that change credentials or the umask (both ABIs' names)
CRED_CALLS = ("setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
              "setfsgid", "setgroups", "capset", "setuid32", "setgid32", "setreuid32",
              "setregid32", "setresuid32", "setresgid32", "setfsuid32", "setfsgid32",
              "setgroups32")
UMASK_CALLS = ("umask",)
CAP_SYS_PTRACE = 1 << 19


class Creds:
    """The supervisor's credentials, and the program's when they may differ."""

    def __init__(self):
        st = _native.proc_status(os.getpid())
        self.umask = st[0] if st[0] >= 0 else 0o022
        self.mine = st[1:5]  # uids, gids, groups, CapEff
        self.privileged = os.geteuid() == 0 or st[4] != 0
        self.creds_changed = False  # some process of the program called a CRED_CALLS
        self.umask_changed = False

    def umask_of(self, tid: int) -> int:
        if not self.umask_changed:
            return self.umask
        try:
            u = _native.proc_status(tid)[0]
        except OSError:
            return self.umask
        return u if u >= 0 else self.umask

    def become(self, tid: int):
        """Take the thread's credentials for this receiver thread; returns
        what restore() needs (None: nothing was switched)."""
        if not self.creds_changed or not self.privileged:
            return None
        try:
            theirs = _native.proc_status(tid)[1:5]
        except OSError:
            raise OSError(errno.ESRCH, "the calling thread is gone") from None
        if theirs == self.mine:
            return None
        uids, gids, groups, cap = theirs
        # Keep the saved uid 0 so that the thread can switch back, and
        # CAP_SYS_PTRACE so that it can still read the program's memory and
        # fetch its fds (a process that changed its ids is not dumpable).
        # It lends the program nothing: no action of Confine checks it.
        _native.thread_creds((uids[0], uids[1], self.mine[0][2], uids[3]), gids, groups,
                             cap | CAP_SYS_PTRACE)
        return True

    def restore(self) -> None:
        uids, gids, groups, cap = self.mine
        _native.thread_creds(uids, gids, groups, cap)
