"""seccomp user notification (seccomp_unotify(2)): the listener, its
ioctls, pidfds, and spawning a program whose filter notifies a listener
that the supervisor holds. No policy lives here.

    pid, listener, err_fd = spawn_with_listener(exe, argv, envp, None, filt)
    while (n := listener.recv()) not in (HUNG_UP, WOKEN):
        listener.send(n.id, flags=FLAG_CONTINUE)

Handing the listener over
-------------------------
The filter must be installed by the program's own process (there is no
way to install one into another process), and the listener fd it returns
exists only there. The child gives it to the supervisor like this
(`_native.spawn` in listener mode):

1. before installing the filter, the child writes (0, L) to its error pipe,
   L being the number the listener will get (the lowest free fd: the child
   is single-threaded, between fork and exec);
2. it installs the filter (NEW_LISTENER, plus WAIT_KILLABLE_RECV when the
   kernel accepts it) and then makes exactly one system call:
   execve(path, argv, envp, COOKIE) with the cookie in the otherwise unused
   args[3]. The filter always notifies an execve whose args[3] is the
   cookie, so the child waits in the kernel;
3. the supervisor copies fd L out of the child with pidfd_getfd(2) (and
   checks it is a seccomp listener), then answers that execve like any
   other notification. The child's own copy is O_CLOEXEC (the kernel
   creates listeners so): the exec closes it, the program never sees it.

Why not SCM_RIGHTS over a socketpair, or writing the number to a pipe
after installing: any system call the child makes after seccomp() may be
one the filter notifies (a catch-all layer, a layer on write or sendmsg),
and nobody could answer it before the supervisor holds the listener: the
child would hang. Exempting those calls in the filter would give the
program an unmediated path. Here the only call after seccomp() is one the
supervisor is known to receive, and the cookie is no secret: a program
that sets it merely gets its own execve notified.
"""
from __future__ import annotations

import errno
import os
import select
import struct
import time
from dataclasses import dataclass

from .. import _native

# filter flags (seccomp(2))
FILTER_FLAG_NEW_LISTENER = 1 << 3
FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5  # 5.19

# seccomp_notif_resp.flags
FLAG_CONTINUE = 1  # SECCOMP_USER_NOTIF_FLAG_CONTINUE (5.5)

# seccomp_notif_addfd.flags
ADDFD_FLAG_SETFD = 1 << 0
ADDFD_FLAG_SEND = 1 << 1  # 5.14

# NOTIF_SET_FLAGS
FD_SYNC_WAKE_UP = 1  # 6.6

# ioctl numbers, for reference (the C functions use them)
IOCTL_NOTIF_RECV = 0xC0502100
IOCTL_NOTIF_SEND = 0xC0182101
IOCTL_NOTIF_ID_VALID = 0x40082102
IOCTL_NOTIF_ADDFD = 0x40182103
IOCTL_NOTIF_SET_FLAGS = 0x40082104

PIDFD_THREAD = os.O_EXCL  # 6.9: a pidfd for a thread, not only a thread-group leader

# The execve the spawned child makes right after installing the filter
# carries this in args[3] (ignored by execve); the filter always notifies
# it. Not a secret (see the module docstring).
EXEC_COOKIE = 0x5359_5356_4953_4F52

HUNG_UP = 0  # notif_recv: the filter has no users left
WOKEN = 1  # notif_recv: the wake fd became readable

_LISTENER_LINK = "anon_inode:seccomp notify"


@dataclass(frozen=True, slots=True)
class Notification:
    """struct seccomp_notif: id, pid (the thread's tid), and seccomp_data."""

    id: int
    tid: int
    arch: int
    nr: int
    ip: int
    args: tuple


class Listener:
    """A seccomp notification listener fd (owned: close() closes it)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.sync_wake_up = False

    def fileno(self) -> int:
        return self.fd

    def recv(self, wake_fd: int = -1):
        """The next notification, or HUNG_UP (no task uses the filter any
        more) or WOKEN (wake_fd is readable). Blocks in poll(2), not in
        NOTIF_RECV; see _native.notif_recv. Call from one thread at a time."""
        r = _native.notif_recv(self.fd, wake_fd)
        if isinstance(r, int):
            return r
        return Notification(*r)

    def send(self, id: int, val: int = 0, error: int = 0, flags: int = 0) -> None:
        """NOTIF_SEND: return `val`, or fail with errno `error` (positive),
        or run the call (flags=FLAG_CONTINUE). OSError ENOENT: the call was
        interrupted or the task died meanwhile (normal)."""
        _native.notif_send(self.fd, id, val, error, flags)

    def id_valid(self, id: int) -> bool:
        """NOTIF_ID_VALID: the task still waits for this notification."""
        return _native.notif_id_valid(self.fd, id)

    def addfd(self, id: int, srcfd: int, newfd: int | None = None, cloexec: bool = False,
              send: bool = False) -> int:
        """NOTIF_ADDFD: copy `srcfd` into the target; returns its number
        there. newfd places it there (SETFD); send=True also answers the
        notification with that number, atomically (SEND)."""
        flags = (ADDFD_FLAG_SETFD if newfd is not None else 0) | (ADDFD_FLAG_SEND if send else 0)
        return _native.notif_addfd(self.fd, id, srcfd, 0 if newfd is None else newfd,
                                   os.O_CLOEXEC if cloexec else 0, flags)

    def set_sync_wake_up(self) -> bool:
        """NOTIF_SET_FLAGS(FD_SYNC_WAKE_UP) when the kernel has it (6.6+):
        the target and the supervisor hand the CPU to each other."""
        try:
            _native.notif_set_flags(self.fd, FD_SYNC_WAKE_UP)
        except OSError:
            return False
        self.sync_wake_up = True
        return True

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


def notif_sizes() -> tuple[int, int, int]:
    """SECCOMP_GET_NOTIF_SIZES: (seccomp_notif, seccomp_notif_resp, seccomp_data)."""
    return _native.notif_sizes()


def pidfd_open(pid: int, thread: bool = False) -> int:
    """A pidfd (O_CLOEXEC). thread=True: for a thread that need not be a
    thread-group leader (PIDFD_THREAD, 6.9+; EINVAL before)."""
    return _native.pidfd_open(pid, PIDFD_THREAD if thread else 0)


def pidfd_getfd(pidfd: int, target_fd: int) -> int:
    """Copy the target's fd `target_fd` into this process (O_CLOEXEC).
    Needs ptrace access to the target (PTRACE_MODE_ATTACH_REALCREDS)."""
    return _native.pidfd_getfd(pidfd, target_fd, 0)


def is_listener(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == _LISTENER_LINK
    except OSError:
        return False


class SpawnFailed(Exception):
    """The child failed before exec: stage (as in _native.spawn) and errno."""

    def __init__(self, stage: int, err: int):
        super().__init__(stage, err)
        self.stage = stage
        self.err = err


def _read_record(fd: int) -> tuple[int, int] | None:
    data = b""
    while len(data) < 8:
        chunk = os.read(fd, 8 - len(data))
        if not chunk:
            return None
        data += chunk
    return struct.unpack("ii", data)


def spawn_with_listener(path: bytes, argv: list[bytes], envp: list[bytes], cwd: bytes | None,
                        filt: bytes, timeout: float = 10.0, wait_killable: bool = True,
                        landlock_fds: tuple[int, ...] = ()) -> tuple[int, Listener, int]:
    """Fork a child that installs `filt` with a new listener and execs
    `path`; returns (pid, listener, err_fd). The filter must notify
    execve with args[3] == EXEC_COOKIE (see the module docstring): the
    child then waits in that execve until the caller answers it.
    wait_killable: ask for WAIT_KILLABLE_RECV (5.19+; silently without it
    on kernels that refuse the flag): once a notification is received,
    only a fatal signal interrupts the call. landlock_fds: rulesets the
    child applies before installing the filter (sysvisor.spawn.Landlock).

    err_fd gets (stage, errno) if the exec fails later, EOF if it works.
    Raises SpawnFailed (the child failed before installing the filter, or
    could not install it; it has been reaped) or OSError (pidfd_getfd
    refused: no ptrace access to the child)."""
    pid, go_fd, err_fd = _native.spawn(path, argv, envp, cwd, filt, FILTER_FLAG_NEW_LISTENER,
                                       EXEC_COOKIE,
                                       FILTER_FLAG_WAIT_KILLABLE_RECV if wait_killable else 0,
                                       tuple(landlock_fds))

    def fail(exc: BaseException):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(err_fd)
        raise exc

    pidfd = -1
    try:
        pidfd = pidfd_open(pid)
    except OSError as e:
        os.close(go_fd)
        fail(e)
    try:
        os.write(go_fd, b"g")
        os.close(go_fd)
        rec = _read_record(err_fd)
        if rec is None:
            fail(SpawnFailed(5, errno.EPIPE))
        if rec[0] != 0:
            fail(SpawnFailed(*rec))
        lnum = rec[1]
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = pidfd_getfd(pidfd, lnum)
            except OSError as e:
                if e.errno not in (errno.EBADF, errno.ESRCH):
                    fail(e)
                fd = -1
            if fd >= 0:
                if is_listener(fd):
                    return pid, Listener(fd), err_fd
                os.close(fd)  # not installed yet (cannot happen: L stays free)
            # not installed yet, or the child failed: its error record says
            r, _, _ = select.select([err_fd], [], [], 0.001)
            if r:
                rec = _read_record(err_fd)
                fail(SpawnFailed(*(rec or (3, errno.EPIPE))))
            if time.monotonic() > deadline:
                fail(SpawnFailed(3, errno.ETIMEDOUT))
    finally:
        if pidfd >= 0:
            os.close(pidfd)
