"""Call: one intercepted syscall, the same object whatever the method."""
from __future__ import annotations

import errno as _errno
import os
from typing import Callable

from .arch import to_signed
from .errors import CapabilityError

AT_FDCWD = -100

# verdicts
PENDING, PASS, FAIL, RETURN = 0, 1, 2, 3
INJECT = 4  # the syscall returns a copy of a supervisor fd (unotify: call.inject_fd)
ANSWERED = 5  # the method already answered it (unotify: call.restart_exec)

_MAX_ERRNO = 4095


class Call:
    """One syscall of one thread, stopped at entry.

    Attributes: pid (thread group), tid, arch ("x86_64", "i386", ...), nr,
    name, args (list of six unsigned ints; change with set_arg), ip, sp,
    syscall (the table entry or None). At exit (in an `on_exit` callback):
    retval (signed), and errno (or 0).
    """

    __slots__ = ("process", "pid", "tid", "arch", "nr", "name", "syscall", "args", "ip", "sp",
                 "_mem", "_chain", "_pos", "verdict", "value", "args_changed", "nr_changed",
                 "exit_hooks", "retval", "retval_changed", "at_exit", "data", "audit",
                 "__weakref__")

    def __init__(self, process, pid, tid, arch, nr, syscall, args, ip, sp, mem, chain):
        self.process = process  # the method's per-thread record
        self.pid = pid
        self.tid = tid
        self.arch = arch
        self.nr = nr
        self.syscall = syscall
        self.name = syscall.name if syscall is not None else f"syscall_{nr:#x}"
        self.args = list(args)
        self.ip = ip
        self.sp = sp
        self._mem = mem
        self._chain = chain
        self._pos = 0
        self.verdict = PENDING
        self.value = 0
        self.args_changed = False
        self.nr_changed = False
        self.exit_hooks: list[Callable] | None = None
        self.retval: int | None = None
        self.retval_changed = False
        self.at_exit = False
        self.data: dict = {}  # per-call scratch space shared by the layers
        self.audit = 0  # AUDIT_ARCH of the syscall's ABI

    def __repr__(self) -> str:
        return f"<Call {self.name}({', '.join(hex(a) for a in self.args[:self.nargs])}) tid={self.tid}>"

    @property
    def nargs(self) -> int:
        return self.syscall.nargs if self.syscall is not None else 6

    # ---- the layer stack -------------------------------------------------

    def next(self) -> None:
        """Hand the call to the layer below (the kernel, at the bottom)."""
        chain = self._chain
        while self._pos < len(chain):
            entry = chain[self._pos]
            self._pos += 1
            layer, fn, alts = entry[0], entry[1], entry[2]
            if alts is not None and not any(all(p.matches(self.args) for p in alt) for alt in alts):
                continue
            try:
                fn(self)
            except Exception as exc:  # a broken handler must not leave the tracee stuck
                self._handler_failed(layer, exc)
                return
            if self.verdict == PENDING:
                continue  # the handler returned without deciding: pass it down
            return
        if self.verdict == PENDING:
            self.verdict = PASS

    def _handler_failed(self, layer, exc: BaseException) -> None:
        self._mem.report_error(layer, self.name, exc)
        if getattr(layer, "enforcing", False):
            self.verdict = FAIL
            self.value = _errno.EPERM
        elif self.verdict == PENDING:
            self.next()

    # ---- verdicts ---------------------------------------------------------

    def fail(self, err: int) -> None:
        """Do not run the syscall; it returns -1 with errno `err`."""
        if not 0 < err <= _MAX_ERRNO:
            raise ValueError(f"errno must be in 1..{_MAX_ERRNO}, got {err}")
        self.verdict = FAIL
        self.value = err

    def ret(self, value: int) -> None:
        """Do not run the syscall; it returns `value`."""
        self.verdict = RETURN
        self.value = int(value)

    def set_arg(self, index: int, value: int) -> None:
        """Run the syscall with argument `index` changed (then call next())."""
        self.args[index] = int(value) & 0xFFFFFFFFFFFFFFFF
        self.args_changed = True

    def set_nr(self, nr: int) -> None:
        """Run a different syscall instead (number in this call's arch)."""
        self.nr = nr
        self.nr_changed = True
        self.args_changed = True

    def on_exit(self, fn: Callable[["Call"], None]) -> None:
        """Call fn(call) when the syscall returns; fn reads call.retval and
        may call call.set_return(v) or call.set_error(errno)."""
        if self.exit_hooks is None:
            self.exit_hooks = []
        self.exit_hooks.append(fn)

    EXEC_CALLS = ("execve", "execveat")

    def continue_exec(self, why: str) -> None:
        """Let this execve/execveat run as the program made it, on purpose,
        after the layer checked it: the one call a confinement layer cannot
        execute on the program's behalf (the kernel must replace the
        program's image itself). `why` says what makes that safe (e.g. "the
        path was rewritten to a helper the program cannot race; Landlock
        backs it"). On unotify, where an enforcing layer that read the
        program's memory and then lets a call through fails closed, this
        clears that mark for this layer's decision only; a layer below that
        reads memory again is judged again. Then hands the call down, like
        next(). Only for execve and execveat (ValueError otherwise)."""
        if self.name not in self.EXEC_CALLS:
            raise ValueError(f"call.continue_exec() is for execve/execveat only, not {self.name}")
        if not isinstance(why, str) or not why.strip():
            raise ValueError("call.continue_exec() needs the reason it is safe")
        self._continue_checked(why)
        self.next()

    def _continue_checked(self, why: str) -> None:
        """The method's part of continue_exec (nothing to do off unotify)."""

    def restart_exec(self, path: bytes, argv: list, before_resume=None) -> int:
        """Make the program run execve(path, argv, its own envp) instead of
        this execve/execveat (unotify only: where arguments cannot be
        changed, the call is ended with ERESTARTNOINTR and the thread's
        registers set, during a brief ptrace stop, to the new path and argv
        written below its stack pointer; the kernel then restarts it). argv
        entries are bytes, or the address (int) of a string already in the
        program (one of its own arguments). The restarted call is notified
        again like any other and must be checked again: the address of path
        in the program's memory (returned, and passed to before_resume(addr)
        before the thread runs again) is how a layer recognises it. 0: the
        thread died meanwhile, or its memory could not be written (the
        restarted call then fails with EFAULT)."""
        raise self._cannot("restart_exec", "restart an exec with other arguments")

    def on_answer(self, fn: Callable[["Call"], None]) -> None:
        """Call fn(call) with call.retval once the call's result is known:
        at exit on the methods that see results (like on_exit); on unotify,
        once a layer's answer was sent (call.retval None for a call let
        through, whose result the supervisor never sees). For tracing on
        every method; to change results, use on_exit."""
        self.on_exit(fn)

    def inject_fd(self, fd: int, cloexec: bool = False, take: bool = False) -> None:
        """Do not run the syscall; it returns a new file descriptor in the
        program that is a copy of the supervisor's `fd` (like SCM_RIGHTS):
        how a layer opens a file on the program's behalf (openat2, then
        inject_fd). The fd is duplicated at once: the caller may close its
        own (take=True: the call takes it over and closes it; the caller
        must not). cloexec sets O_CLOEXEC on the program's copy. unotify
        only (SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND)."""
        raise self._cannot("inject_fd", "hand a file descriptor to the program")

    def pidfd_getfd(self, fd: int) -> int:
        """A copy of the program's file descriptor `fd` in the supervisor
        (O_CLOEXEC; the caller closes it). unotify only (pidfd_getfd(2))."""
        raise self._cannot("pidfd_getfd", "fetch one of the program's file descriptors")

    def _method_name(self) -> str:
        session = getattr(self._mem, "session", None)
        method = getattr(session, "method", None)
        return getattr(method, "name", None) or "this"

    def _cannot(self, what: str, does: str, able: tuple[str, ...] = ("unotify",)) -> CapabilityError:
        return CapabilityError(f"call.{what}(): the {self._method_name()} method cannot {does}; "
                               f"methods that can: {', '.join(able)}")

    # ---- at exit ------------------------------------------------------------

    @property
    def errno(self) -> int:
        r = self.retval
        return -r if r is not None and -_MAX_ERRNO <= r < 0 else 0

    def set_return(self, value: int) -> None:
        self.retval = int(value)
        self.retval_changed = True

    def set_error(self, err: int) -> None:
        self.set_return(-err)

    # ---- tracee memory ----------------------------------------------------

    def read(self, addr: int, size: int) -> bytes | None:
        """Read tracee memory; None if unreadable, shorter if it runs into an
        unmapped page."""
        return self._mem.read(self.tid, addr, size)

    def write(self, addr: int, data: bytes) -> int:
        return self._mem.write(self.tid, addr, data)

    def read_str(self, addr: int, maxlen: int = 4096) -> tuple[bytes, bool] | None:
        """The NUL-terminated string at `addr`: (bytes, complete), or None
        if unreadable. complete is False when cut at maxlen."""
        return self._mem.read_str(self.tid, addr, maxlen)

    def read_bytes(self, index: int, maxlen: int = 4096) -> tuple[bytes, bool] | None:
        """The NUL-terminated string argument `index`: (bytes, complete)."""
        return self._mem.read_str(self.tid, self.args[index], maxlen)

    def string(self, index: int, maxlen: int = 4096) -> str | None:
        """String argument `index` decoded like the filesystem does; None if
        the pointer is unreadable (or NULL)."""
        if self.args[index] == 0:
            return None
        r = self._mem.read_str(self.tid, self.args[index], maxlen)
        return None if r is None else os.fsdecode(r[0])

    def fd_arg(self, index: int) -> int:
        return to_signed(self.args[index], 32)

    def path(self, index: int, dirfd: int | None = None) -> str | None:
        """Path argument `index` made absolute (lexically: `..` and symlinks
        are not resolved) against `dirfd` or the tracee's cwd. When dirfd is
        None and the previous argument is a dirfd (openat, fstatat...), it is
        used. Not a security check: the tracee can change the memory or the
        filesystem after this read (see the unotify method)."""
        p = self.string(index)
        if p is None or p.startswith("/"):
            return p
        if dirfd is None and index > 0 and self.syscall is not None:
            prev = self.syscall.args[index - 1] if index - 1 < len(self.syscall.args) else ""
            if "dfd" in prev or "dirfd" in prev or prev.endswith(" fd"):
                dirfd = self.fd_arg(index - 1)
        base = self.cwd() if dirfd is None or dirfd == AT_FDCWD else self.fd_path(dirfd)
        if base is None:
            return p
        return os.path.normpath(os.path.join(base, p)) if p else base

    def cwd(self) -> str | None:
        try:
            return os.readlink(f"/proc/{self.tid}/cwd")
        except OSError:
            return None

    def fd_path(self, fd: int) -> str | None:
        """What the tracee's fd refers to (a path, or e.g. "pipe:[123]")."""
        try:
            return os.readlink(f"/proc/{self.pid}/fd/{fd}")
        except OSError:
            return None

    def push(self, data: bytes) -> int:
        """Copy data below the tracee's stack (past the 128-byte red zone)
        and return its address: how a handler passes a new string or struct
        to a syscall it lets through with changed args."""
        top = self.data.get("_push_top", self.sp - 128)
        addr = (top - len(data)) & ~15
        if self._mem.write(self.tid, addr, data) != len(data):
            raise OSError(_errno.EFAULT, "could not write below the tracee's stack")
        self.data["_push_top"] = addr
        return addr
