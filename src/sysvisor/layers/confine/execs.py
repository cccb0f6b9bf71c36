"""execve in the view: the one call Confine lets the kernel run.

No supervisor can exec for another process, so an execve is always run by
the kernel (call.continue_exec), after the layer made sure of what the
kernel will run. The kernel resolves the path, the ELF interpreter
(PT_INTERP) and a script's #! interpreter in the *real* filesystem. The
layer resolves the whole chain in the view (kernel/binfmt.py parses it the
kernel's way) and takes one of two ways:

native   every file the kernel resolves by path is the very inode the view
         has there (binds at their host paths, a root of "/"): the call
         runs unchanged.
restart  otherwise. The layer computes what the kernel would run in the
         view -- the final ELF without interpreter, and its argv -- and the
         engine restarts the call with that (call.restart_exec: the call is
         ended with ERESTARTNOINTR and, during a brief ptrace stop, the
         thread's path and argv registers are pointed at copies written
         below its own stack pointer, which nothing else uses: no memory the
         program holds is changed, so a vfork parent sharing it is safe).
         For a dynamic program the final ELF is the view's loader, run
         explicitly as proot does:
             [ld.so, "--argv0", argv[0], /guest/program, argv[1]...]
         (without --argv0 when the loader lacks it: argv[0] is then the
         program's guest path); for a #! script, what binfmt_script would
         build, [interpreter, optional arg, script path, argv[1]...], in
         front of that. The kernel is given the final file by its host path
         (with Landlock, or when it lies on a read-only mount of the view),
         else by /proc/self/fd/SLOT of a checked fd placed at a reserved
         slot. The restarted call is notified again and recognised by the
         address of that path; it is checked again (the file's inode) and
         then continued.

Consequences of running the loader, on purpose (proot's too): the
kernel's /proc/self/exe is the loader (Confine shows the program when it
is read through the view, from the loader's command line), AT_EXECFN is
the loader's path, /proc/self/cmdline shows the loader invocation, and
$ORIGIN of the main program comes from its guest path. execve returns an
error itself for everything checked beforehand (missing files, execute
permission, noexec mounts, bad formats); resource errors of the restarted
call (E2BIG, ENOMEM) are returned like any others. Redirecting needs
ptrace access to the program (PTRACE_SEIZE: same user, or root; Yama's
ptrace_scope 1 allows it, the program being a descendant); without it the
exec fails with EACCES and a message. An int 0x80 exec from a 64-bit
program cannot be redirected (its stack is out of reach of 32-bit
pointers): EACCES.

Races. The kernel reads the path again after the check. Without Landlock
the exec runs only when nothing can change it meanwhile: the process
single-threaded, no other process sharing its memory except vfork parents
(blocked until the exec is through: kcmp KCMP_VM over /proc, and
/proc/PID/syscall of each sharer), the path in a private mapping; and
unless every mount of the view is read-only, the kernel looks up no path
at all -- the exec is restarted with the final file at /proc/self/fd/SLOT
(a symlink or directory on the way could be swapped by another process on
a writable mount, even when the file itself is on a read-only one). With
Landlock the kernel refuses to execute anything outside the view's mounts
whatever a race makes it resolve, so these conditions are not needed.
"""
from __future__ import annotations

import errno
import os
import stat as _stat
import struct
import threading
from dataclasses import dataclass, field

from ... import _native
from ...kernel import binfmt
from ...kernel.unotify import ADDFD_FLAG_SETFD
from .view import Fail, Mount

AT_FDCWD = -100
KCMP_VM = 1
CLONE_VFORK = 0x4000
MAX_ARGS = 1 << 17  # the most argv pointers read (MAX_ARG_STRINGS is 0x7fffffff; ARG_MAX bounds it)
PENDING_MAX = 4096


@dataclass
class Step:
    """One file of the chain the kernel would run, resolved in the view."""

    fd: int  # supervisor fd, open for reading
    guest: str  # its guest path
    mount: Mount | None  # None: not a view file (a memfd run by fd)
    kind: object  # binfmt.Script or binfmt.Elf
    by_path: str | None  # the path the kernel resolves it by (None: the kernel uses the fd)


@dataclass
class Plan:
    way: str  # "native" or "restart"
    by_path: list = field(default_factory=list)  # mounts of the files the kernel looks up by path
    final: Step | None = None  # restart: the ELF the kernel runs
    prefix: list = field(default_factory=list)  # restart: argv[0] replaced by these (bytes, or None: argv[0])
    loader: tuple | None = None  # (st_dev, st_ino) of a loader run explicitly


@dataclass
class Pending:
    """A restarted exec, until it is notified again."""

    addr: int
    path: bytes
    inode: tuple
    slot: bool


class Execs:
    """The exec part of a Confine layer."""

    def __init__(self, layer, slot: int):
        self.layer = layer
        self.view = layer.view
        self.slot = slot
        self.loaders: set[tuple[int, int]] = set()  # run explicitly: /proc/self/exe is the program
        self._argv0_ok: dict[tuple[int, int], bool] = {}
        self._kinds: dict[tuple, object] = {}  # (dev, ino, mtime, size) -> parsed format
        self.pending: dict[int, Pending] = {}  # tid -> its restarted exec
        self._lock = threading.Lock()

    # ---- the chain ------------------------------------------------------------------

    def step(self, fds, fd: int, guest: str, mount, by_path) -> Step:
        """Check one file of the chain as the kernel would (a regular file,
        executable by the program, on an exec mount; a known format)."""
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            raise Fail(errno.EACCES)
        proc_path = f"/proc/self/fd/{fd}"
        if not os.access(proc_path, os.X_OK, effective_ids=True):
            raise Fail(errno.EACCES)  # also a noexec mount, as the kernel says
        try:
            r = os.open(proc_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.layer.say("exec-unreadable", f"sysvisor: confine: exec of {guest} refused (EACCES): "
                           "the file is not readable, and the view's checks must read it")
            raise Fail(errno.EACCES) from None
        fds.append(r)
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            kind = self._kinds.get(key)
        if kind is None:
            try:
                kind = binfmt.parse(r)
            except OSError as e:
                raise Fail(e.errno or errno.ENOEXEC) from None
            with self._lock:
                if len(self._kinds) > 4096:
                    self._kinds.clear()
                self._kinds[key] = kind
        self._tell_c(st, kind)
        return Step(r, guest, mount, kind, by_path)

    def _tell_c(self, st, kind, argv0: int = -1) -> None:
        """Give the C fast path (fast.py) the format of an ELF file, so that
        it can decide the next execs of it; argv0 for a loader run
        explicitly (1: takes --argv0, 2: does not, -1: as known)."""
        listener = self.layer.fast_listener
        if listener >= 0 and isinstance(kind, binfmt.Elf):
            interp = None if kind.interp is None else os.fsencode(kind.interp)
            _native.fast_exec_kind(listener, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size,
                                   interp, argv0)

    def _interp(self, call, fds, name: str) -> Step:
        """An interpreter (#! or PT_INTERP) in the view: relative names are
        resolved against the cwd, as the kernel does."""
        f = self.layer.lookup(call, fds, name, AT_FDCWD, True)
        if f.fd < 0:
            raise Fail(errno.ENOENT)
        return self.step(fds, f.fd, f.guest, f.mount, name)

    @staticmethod
    def _real_same(step: Step) -> bool:
        """Does the kernel's own lookup (real root and cwd) find this inode?"""
        if step.by_path is None:
            return True  # the kernel uses the very fd
        if not step.by_path:
            return False  # a lookup under a dirfd: never taken as the same
        try:
            rst = os.stat(step.by_path)
        except OSError:
            return False
        vst = os.fstat(step.fd)
        return (rst.st_dev, rst.st_ino) == (vst.st_dev, vst.st_ino)

    def plan(self, call, fds, main: Step, given: str, native_ok: bool = True) -> Plan:
        """What the kernel must run for main (see the module docstring).
        native_ok False: never let the kernel look a path up (a restart
        gives it the final file by fd)."""
        chain = [main]
        head: list = [None]  # what replaces argv[0]: initially argv[0] itself
        filename = given
        cur = main
        for _depth in range(binfmt.BINPRM_MAX_RECURSION + 1):
            kind = cur.kind
            if isinstance(kind, binfmt.Script):
                nxt = self._interp(call, fds, kind.interp)
                head = [os.fsencode(kind.interp)] + ([os.fsencode(kind.arg)] if kind.arg else []) + \
                    [os.fsencode(filename)] + head[1:]
                filename = kind.interp
                chain.append(nxt)
                cur = nxt
                continue
            if kind.interp is None:  # a static ELF ends the chain
                if native_ok and all(self._real_same(s) for s in chain):
                    return Plan("native", by_path=[s.mount for s in chain if s.by_path is not None])
                return Plan("restart", final=cur, prefix=head)
            loader = self._interp(call, fds, kind.interp)
            if not isinstance(loader.kind, binfmt.Elf) or loader.kind.interp is not None:
                raise Fail(errno.ELIBBAD)
            if native_ok and all(self._real_same(s) for s in chain + [loader]):
                return Plan("native", by_path=[s.mount for s in chain + [loader]
                                               if s.by_path is not None])
            st = os.fstat(loader.fd)
            key = (st.st_dev, st.st_ino)
            with self._lock:
                self.loaders.add(key)
            prog = os.fsencode(cur.guest)
            argv0 = self._supports_argv0(loader.fd, key)
            self._tell_c(st, loader.kind, 1 if argv0 else 2)
            if argv0:
                prefix = [os.fsencode(kind.interp), b"--argv0", head[0], prog]
            else:
                prefix = [os.fsencode(kind.interp), prog]
            return Plan("restart", final=loader, prefix=prefix + head[1:], loader=key)
        raise Fail(errno.ELOOP)

    def _supports_argv0(self, fd: int, key) -> bool:
        """Does this loader take --argv0 (glibc 2.33+)? Its own text says."""
        with self._lock:
            known = self._argv0_ok.get(key)
        if known is None:
            try:
                with open(f"/proc/self/fd/{fd}", "rb") as f:
                    known = b"--argv0" in f.read(8 << 20)
            except OSError:
                known = False
            with self._lock:
                self._argv0_ok[key] = known
        return known

    # ---- what makes it safe -----------------------------------------------------------

    def race_free(self, call, by_path: list, path_addr: int, path_len: int) -> str | None:
        """Why the exec could be raced (None: it cannot). Landlock absent."""
        if any(m is None or not m.readonly for m in by_path):
            return "a file the kernel looks up by path is on a writable mount"
        try:
            if _native.proc_status(call.tid)[5] != 1:
                return "the process has several threads"
            sharer = self._memory_sharer(call.pid)
        except OSError:
            return "the process is gone"
        if sharer:
            return sharer
        if path_addr and not self._private_mapping(call.pid, path_addr, path_len):
            return "the path is in shared memory"
        return None

    @staticmethod
    def _private_mapping(pid: int, addr: int, size: int) -> bool:
        """Is [addr, addr+size) in private mappings of the process?"""
        end = addr + max(size, 1)
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    rng, perms = line.split(" ", 2)[:2]
                    lo, _, hi = rng.partition("-")
                    lo, hi = int(lo, 16), int(hi, 16)
                    if hi <= addr or lo >= end:
                        continue
                    if perms[3] != "p":
                        return False
                    if hi >= end:
                        return True
                    addr = hi
        except (OSError, ValueError):
            return False
        return False

    @staticmethod
    def _memory_sharer(pid: int) -> str | None:
        """A process other than pid using its memory that could run while the
        exec reads it (vfork parents blocked in vfork cannot)."""
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == pid:
                continue
            other = int(name)
            try:
                if _native.kcmp(pid, other, KCMP_VM) != 0:
                    continue
                tasks = os.listdir(f"/proc/{other}/task")
            except OSError:
                continue
            for t in tasks:
                try:
                    with open(f"/proc/{other}/task/{t}/syscall") as f:
                        fields = f.read().split()
                except OSError:
                    return "another process shares its memory"
                nr = int(fields[0]) if fields and fields[0].lstrip("-").isdigit() else -1
                # x86_64 vfork, or clone with CLONE_VFORK: blocked until we are through
                vfork = nr == 58 or (nr == 56 and len(fields) > 1 and int(fields[1], 16) & CLONE_VFORK)
                if not vfork:
                    return "another process shares its memory"
        return None

    # ---- restarting -----------------------------------------------------------------

    def _argv_pointers(self, call, addr: int) -> list[int]:
        """The program's argv array (pointers), read once."""
        if addr == 0:
            return []
        psize = 8 if self.layer.layout(call).long == 8 else 4
        fmt = "<Q" if psize == 8 else "<I"
        out = []
        chunk = 512
        while len(out) < MAX_ARGS:
            raw = call.read(addr + len(out) * psize, chunk * psize)
            if not raw:
                raise Fail(errno.EFAULT)
            for i in range(len(raw) // psize):
                p, = struct.unpack_from(fmt, raw, i * psize)
                if p == 0:
                    return out
                out.append(p)
            if len(raw) < chunk * psize:
                raise Fail(errno.EFAULT)
        raise Fail(errno.E2BIG)

    def restart(self, call, plan: Plan, argv_idx: int, use_slot: bool) -> None:
        """Have the engine restart the call running plan.final with the
        plan's argv (see the module docstring)."""
        orig = self._argv_pointers(call, call.args[argv_idx])
        argv = []
        for p in plan.prefix:
            if p is None:  # the program's own argv[0]
                argv.append(orig[0] if orig else b"")
            else:
                argv.append(p)
        argv += orig[1:]
        final = plan.final
        st = os.fstat(final.fd)
        host = os.readlink(f"/proc/self/fd/{final.fd}")
        if use_slot or not host.startswith("/") or host.endswith(" (deleted)"):
            n = call._mem
            _native.notif_addfd(n.fd, n.id, final.fd, self.slot, os.O_CLOEXEC, ADDFD_FLAG_SETFD)
            path = b"/proc/self/fd/%d" % self.slot
            use_slot = True
        else:
            path = os.fsencode(host)
        tid = call.tid
        listener = self.layer.fast_listener

        def register(addr: int) -> None:
            if not use_slot and self.layer.landlock_active and listener >= 0 and \
                    _native.fast_exec_pending(listener, tid, addr, path, st.st_dev, st.st_ino):
                return  # continued in C (fast.py); Python if that check fails
            with self._lock:
                if len(self.pending) > PENDING_MAX:
                    self.pending.clear()
                self.pending[tid] = Pending(addr, path, (st.st_dev, st.st_ino), use_slot)
        try:
            call.restart_exec(path, argv, before_resume=register)
        except OSError as e:
            self.layer.say("restart:" + str(e.errno), "sysvisor: confine: exec refused (EACCES): "
                           f"redirecting it to the view's files needs ptrace of the program: {e}")
            raise Fail(errno.EACCES) from None

    def restarted(self, call, path_idx: int) -> Pending | None:
        """The restart this call is, if any (checked: same path, same file)."""
        with self._lock:
            p = self.pending.get(call.tid)
            if p is None or p.addr != call.args[path_idx]:
                return None
            del self.pending[call.tid]
        r = call.read_str(p.addr, len(p.path) + 1)
        if r is None or r[0] != p.path:
            return None
        try:
            if p.slot:
                fd = call.pidfd_getfd(self.slot)
                try:
                    st = os.fstat(fd)
                finally:
                    os.close(fd)
            else:
                st = os.stat(p.path)
        except OSError:
            return None
        return p if (st.st_dev, st.st_ino) == p.inode else None

    # ---- /proc/self/exe -----------------------------------------------------------------

    def program_of(self, pid: int, exe_host: str) -> str | None:
        """For a process whose loader the layer ran explicitly, the guest
        path of the program (from the loader's command line), else None."""
        if not self.loaders:
            return None
        try:
            st = os.stat(exe_host)
        except OSError:
            return None
        if (st.st_dev, st.st_ino) not in self.loaders:
            return None
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read(16384).split(b"\0")
        except OSError:
            return None
        if len(args) >= 4 and args[1] == b"--argv0":
            return os.fsdecode(args[3])
        if len(args) >= 2 and args[1].startswith(b"/"):
            return os.fsdecode(args[1])
        return None
