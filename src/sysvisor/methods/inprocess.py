"""The in-process engine, behind the `sud` and `preload` methods.

The program runs with a native shim LD_PRELOADed (native/shim*.c, built as
sysvisor/_shim_sud.so and sysvisor/_shim_preload.so). The shim sees the
program's system calls in the thread that makes them (a SIGSYS from syscall
user dispatch, or a libc wrapper), checks them against the interest table
this engine hands it at start (a sealed memfd: per syscall number "never",
"always" or the @when predicates), and only the interesting ones cross to
Python: the shim writes the call into a slot of its process's shared region
(a memfd it creates and hands over, re-created in fork children and after
exec), sends a short message on the control socket, and waits on the slot's
futex; this engine builds a `Call`, runs the layer chain and writes the
verdict into the slot (run, with possibly changed arguments; return a value;
fail with an errno; or run and report the result, for on_exit hooks).

Threads. One receiver thread reads the control socket and runs the chains
that have no blocking handler, one at a time (the Layer contract of the
other engines); calls whose chain has a `@blocking` handler run on worker
threads (more are started when all are busy), so a blocked handler holds up
its own program thread only.

Processes. Every process of the tree inherits the one control socket (a
SOCK_SEQPACKET pair: messages are atomic, so any number of processes and
threads share it). A HELLO announces each image (start, exec, fork, vfork);
this engine then holds a pidfd for it, which gives the process's end and,
on Linux 6.15+, its exit status (PIDFD_INFO_EXIT) even when someone else
reaps it. The session ends when every process holding the socket is gone
(end of file) and every known process has been seen to end.

With the hybrid backstop (methods/backstop.py: `sud+backstop`,
`preload+backstop`) a seccomp filter also sends to this engine every call
a layer asked for that did not come from the shim's trampoline (the
loader's, static programs', inline and JIT syscalls, libc's own under
preload); the shim maps its trampoline at the backstop's fixed address.

Not a security boundary: the shim lives in the program's address space and
the program can corrupt or bypass it. If the supervisor dies, a program
thread that needs it (its next intercepted call, or one in flight after at
most a second) kills its process: it never runs on unsupervised; the first
process also gets SIGKILL at once (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import queue
import select
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
from contextlib import nullcontext

from .. import _native
from ..arch import AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, to_signed
from ..call import FAIL, RETURN, Call
from ..errors import AttachError, MethodUnavailable, SpawnError, SysvisorError
from . import EVENT_HOOKS, resolve_command
from .base import EngineBase
from .ptrace import build_abis, stack_interests

SHIM_FILES = {"sud": "_shim_sud.so", "preload": "_shim_preload.so"}
METHOD_IDS = {"sud": 1, "preload": 2}
ENV_VAR = "SYSVISOR_SHIM"
FD_BASE = 1000  # the shim's fds sit at or above this number in the program

# ---- the layouts of native/shim.h (keep in step) ------------------------------------

PROTO_VERSION = 1
CFG_MAGIC = 0x31435653
CFG_THREAD_EVENTS = 1
ALWAYS = 0xFFFFFFFF
CFG_HDR = struct.Struct("<IIIIII2I")
CFG_ABI = struct.Struct("<IIIIII")
CFG_PRED = struct.Struct("<BBB5xQQ")
MSG = struct.Struct("<IIQiiiiiiQQIIIIIIII")
SLOT = struct.Struct("<IIiiIIq6QQQqQ")
SLOT_ANSWER = struct.Struct("<Iq6Q")  # flags @20, nr @24, args @32 (not pid/tid @8: the shim's)
MSG_HELLO, MSG_CALL, MSG_EXIT, MSG_THREAD, MSG_TEXIT, MSG_GEXIT, MSG_NOTE = range(1, 8)
KIND_START, KIND_EXEC, KIND_FORK, KIND_VFORK, KIND_THREAD = range(1, 6)
SLOT_ANSWERED = 2
V_RUN, V_RETURN, V_FAIL = 0, 1, 2
F_WANT_EXIT = 1

PIDFD_GET_INFO = 0xC040FF0B  # _IOWR(0xFF, 11, struct pidfd_info), 6.13
PIDFD_INFO_EXIT = 1 << 3     # 6.15
_M64 = 0xFFFFFFFFFFFFFFFF

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long] * 4
SYS_FUTEX, FUTEX_WAKE = 202, 1

_read_mem = _native.read_mem
_read_str = _native.read_str


def _load_shims() -> dict[str, bytes]:
    """The shim libraries' bytes, read now: a session that runs after its
    process dropped privileges (tests' run_as) may no longer be able to read
    the installed package, and copies them from memory."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {}
    for kind, name in SHIM_FILES.items():
        try:
            with open(os.path.join(here, name), "rb") as f:
                out[kind] = f.read()
        except OSError:
            pass
    return out


_SHIMS = _load_shims()


def shim_problems(kind: str) -> list[str]:
    """Why the `kind` method cannot run here (empty if it can)."""
    import platform

    if platform.machine() != "x86_64":
        return [f"the {kind} method is x86_64 only (aarch64 has syscall user dispatch too, "
                f"but the shim's trampoline is not written for it)"]
    if kind not in _SHIMS:
        return [f"the shim library {SHIM_FILES[kind]} is not built (reinstall: pip install .)"]
    return []


# ---- start-up checks -----------------------------------------------------------------

def exec_problem(path: str, depth: int = 0) -> str | None:
    """Why the shim could not follow an exec of `path` (None if it can):
    static or non-x86_64 ELF files have no loader to preload it; scripts are
    checked through their interpreter."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:2] == b"#!" and depth < 4:
                line = (head + f.read(192)).split(b"\n", 1)[0][2:].strip()
                interp = line.split()[0] if line else b""
                return exec_problem(os.fsdecode(interp), depth + 1) if interp else None
            if head[:4] != b"\x7fELF" or len(head) < 64:
                return None
            if head[4] != 2 or struct.unpack_from("<H", head, 18)[0] != 62:
                return f"{path} is not an x86_64 (64-bit) program"
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            f.seek(phoff)
            ph = f.read(phentsize * phnum)
    except OSError:
        return None
    for i in range(phnum):
        if struct.unpack_from("<I", ph, i * phentsize)[0] == 3:  # PT_INTERP
            return None
    return f"{path} is statically linked (no dynamic loader to preload the shim into)"


def _exec_dir() -> str:
    """A temp dir on a filesystem that allows executable mappings."""
    for d in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
        try:
            if not os.statvfs(d).f_flag & os.ST_NOEXEC and os.access(d, os.W_OK | os.X_OK):
                return d
        except OSError:
            continue
    raise MethodUnavailable("no writable temp directory allows executable mappings "
                            "(every candidate is mounted noexec)")


class ShimCopy:
    """The shim library for one session, readable by whoever the program
    runs as: a 0644 file in a fresh 0755 directory (mkdtemp: an unpredictable
    name nobody else can have created), removed at the end."""

    def __init__(self, kind: str):
        self.dir = tempfile.mkdtemp(prefix="sysvisor-shim-", dir=_exec_dir())
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, f"libsv{kind}.so")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(_SHIMS[kind])
        os.chmod(self.path, 0o644)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def build_config(layers, abis, thread_events: bool, blob: bytes = b"") -> bytes:
    """The interest table (and the evaluator's blob) the shim maps at start."""
    interests = {ai.audit_arch: ai for ai in stack_interests(layers, abis)}
    order = sorted(abis, key=lambda a: a != AUDIT_ARCH_X86_64)[:2]
    parts: list[bytes] = []
    off = CFG_HDR.size
    abi_offs = []
    for audit in order:
        ai = interests[audit]
        n = max(abis[audit].table.by_nr, default=0) + 1
        n = max(n, *(k + 1 for k in ai.calls)) if ai.calls else n
        ent = [0] * n
        alts: list[tuple[int, int]] = []
        preds: list[bytes] = []
        for nr, want in ai.calls.items():
            if nr < 0 or nr >= n or nr & X32_SYSCALL_BIT:
                continue
            if want is None:
                ent[nr] = ALWAYS
                continue
            first = len(alts)
            for alt in want:
                alts.append((len(preds), len(alt)))
                for p in alt:
                    preds.append(CFG_PRED.pack(p.index, int(p.negate), p.bits,
                                               p.value & _M64, p.mask & _M64))
            ent[nr] = first << 16 | len(want)
        body = struct.pack(f"<{n}I", *ent)
        alts_b = b"".join(struct.pack("<HH", a, b) for a, b in alts)
        head_size = CFG_ABI.size
        alts_off = off + head_size + len(body)
        preds_off = alts_off + len(alts_b)
        preds_off += (-preds_off) % 8
        head = CFG_ABI.pack(audit, int(ai.everything), n, alts_off, preds_off, 0)
        chunk = head + body + alts_b
        chunk += b"\0" * (preds_off - off - len(chunk)) + b"".join(preds)
        abi_offs.append(off)
        parts.append(chunk)
        off += len(chunk)
        off += (-off) % 8
        parts.append(b"\0" * ((-len(chunk)) % 8))
    blob_off = off
    abi_offs += [0] * (2 - len(abi_offs))
    hdr = CFG_HDR.pack(CFG_MAGIC, PROTO_VERSION, CFG_THREAD_EVENTS if thread_events else 0,
                       len(order), blob_off, len(blob), *abi_offs)
    return hdr + b"".join(parts) + blob


# ---- per-process and per-call state --------------------------------------------------------

class _Region:
    """A process's shared region, mapped here."""

    __slots__ = ("id", "pid", "base", "size", "mm", "buf", "addr", "slots_off", "scratch_off",
                 "scratch_size", "eval_off", "eval_size", "_anchor")

    def __init__(self, fd: int, m: tuple):
        (_t, _k, self.id, self.pid, _tid, _pp, _pt, _f, _c, self.base, self.size, _ns, slot_size,
         self.scratch_off, self.scratch_size, self.eval_off, self.eval_size, _m, _p) = m
        self.mm = mmap.mmap(fd, self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.buf = memoryview(self.mm)
        self._anchor = ctypes.c_char.from_buffer(self.mm)
        self.addr = ctypes.addressof(self._anchor)
        self.slots_off = 4096

    def close(self) -> None:
        self.buf.release()
        self._anchor = None
        try:
            self.mm.close()
        except BufferError:  # a Call still holds a view: the GC unmaps it later
            pass


class _Proc:
    __slots__ = ("pid", "region", "pidfd", "tids", "exit_code", "ended")

    def __init__(self, pid: int):
        self.pid = pid
        self.region: _Region | None = None
        self.pidfd = -1
        self.tids: set[int] = {pid}
        self.exit_code: int | None = None
        self.ended = False


class _Thread:
    """What layers may look up in engine.threads (Record: .pid)."""

    __slots__ = ("tid", "pid")

    def __init__(self, tid: int, pid: int):
        self.tid, self.pid = tid, pid


class _Xing:
    """One crossing: the Call's `process` (its slot, for push)."""

    __slots__ = ("region", "slot", "push_top")

    def __init__(self, region: _Region, slot: int):
        self.region, self.slot = region, slot
        self.push_top = region.scratch_size


class InProcessCall(Call):
    """A Call from the shim. `push` writes into the slot's scratch area in
    the shared region (not below the program's stack: the shim's own frames
    live there while the call is in flight)."""

    __slots__ = ()

    def push(self, data: bytes) -> int:
        x = self.process
        r = x.region
        top = (x.push_top - len(data)) & ~15
        if top < 0:
            raise OSError(errno.E2BIG, f"call.push: at most {r.scratch_size} bytes per call "
                                       f"on the in-process methods")
        off = r.scratch_off + x.slot * r.scratch_size + top
        r.buf[off:off + len(data)] = data
        x.push_top = top
        return r.base + off


class _Pool:
    """Worker threads for chains with a blocking handler."""

    def __init__(self, engine: "InProcessEngine"):
        self.engine = engine
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle = 0
        self.threads: list[threading.Thread] = []

    def submit(self, job) -> None:
        with self.lock:
            if self.idle == 0 and len(self.threads) < 64:
                t = threading.Thread(target=self._loop, daemon=True,
                                     name=f"sysvisor-inprocess-{len(self.threads)}")
                self.threads.append(t)
                self.idle += 1
                t.start()
            self.idle -= 1
        self.jobs.put(job)

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                job()
            except BaseException as exc:  # noqa: BLE001
                sys.stderr.write(f"sysvisor: in-process worker: internal error: {exc!r}\n")
            with self.lock:
                self.idle += 1

    def stop(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for t in self.threads:
            t.join(5)


# ---- the engine ------------------------------------------------------------------------------

class InProcessEngine(EngineBase):
    """Runs a spawned program under the in-process shim for a Session."""

    def __init__(self, session, kind: str, backstop: bool = False, compile: bool = True):
        super().__init__(session)
        self.kind = kind
        self.measure = getattr(session, "measure", False)
        self._stop_ns: list[int] = []
        self.crossings = 0  # calls (and results) that crossed from the shim
        # With the backstop, its receivers run the same layers: one lock
        # keeps undeclared handlers one at a time across both.
        self.backstop = None
        self.stack_lock = nullcontext()
        if backstop:
            from .backstop import Backstop

            self.stack_lock = threading.RLock()
            self.backstop = Backstop(session, self.stack_lock)
        self.follows_root = True  # the spawned program has the shim
        self.threads: dict[int, _Thread] = {}
        self.procs: dict[int, _Proc] = {}
        self.regions: dict[int, _Region] = {}
        self.pending: dict[tuple[int, int], InProcessCall] = {}  # (region, slot) -> call awaiting exit
        self.pending_exec: dict[int, InProcessCall] = {}  # tid -> execve awaiting its new image
        self.root_pid: int | None = None
        self.root_status: int | None = None
        self.notes: set[str] = set()
        self.abis, _ = build_abis(self.layers)
        self.blocking_default = {
            audit: any(getattr(l, "blocking", False) or getattr(fn, "_sysvisor_blocking", False)
                       for l, fn, _ in abi.default_chain) for audit, abi in self.abis.items()}
        hooks = EVENT_HOOKS + ("on_exit",)
        self.hooks = {h: [getattr(l, h) for l in self.layers if callable(getattr(l, h, None))]
                      for h in hooks}
        self.thread_events = any(self.hooks[h] for h in hooks)
        self.sock: socket.socket | None = None
        self.cfg_fd = -1
        self.shim: ShimCopy | None = None
        self.pool = _Pool(self)
        self.wake_r = self.wake_w = -1
        self.eof = False
        self.lost_hello = False
        self.seen: set[int] = set()  # pids that said HELLO
        # the layers that are data run in the program (sysvisor.compiled)
        from ..compiled.runtime import CompiledRuntime

        self.compiled = CompiledRuntime.build(self.layers) if compile else None
        self.blob = self.compiled.blob if self.compiled is not None else b""

    @property
    def stops(self) -> int:
        """Crossings from the shim, plus the backstop's notifications."""
        return self.crossings + (self.backstop.stops if self.backstop else 0)

    @property
    def stop_ns(self) -> list[int]:
        return self._stop_ns + (self.backstop.stop_ns if self.backstop else [])

    # ---- starting -------------------------------------------------------------

    def spawn(self, argv: list[str], env: dict | None, cwd: str | None) -> int:
        if self.root_pid is not None:
            raise SysvisorError(f"a {self.kind} session runs one program")
        problems = shim_problems(self.kind)
        if problems:
            raise MethodUnavailable(f"method {self.kind}: " + "; ".join(problems))
        exe, env = resolve_command(argv, env)
        why = exec_problem(exe)
        if why and self.backstop is None:
            raise MethodUnavailable(f"method {self.kind} cannot run it: {why}; methods that can: "
                                    f"ptrace, seccomp, unotify, {self.kind}+backstop")
        # Under the backstop, a program the shim cannot follow runs without
        # it (and without our variables and fds: nothing would tidy them),
        # seen through the backstop alone, and so does everything it starts.
        self.follows_root = why is None
        env = dict(env)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfg = sock_fd = cfg_fd = -1
        try:
            if self.follows_root:
                self.shim = ShimCopy(self.kind)
                cfg = os.memfd_create("cfg", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
                os.write(cfg, build_config(self.layers, self.abis, self.thread_events, self.blob))
                fcntl.fcntl(cfg, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK
                            | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
                # the program's ends, inheritable, at high numbers (the shim makes them CLOEXEC)
                sock_fd = fcntl.fcntl(theirs.fileno(), fcntl.F_DUPFD, FD_BASE)
                cfg_fd = fcntl.fcntl(cfg, fcntl.F_DUPFD, FD_BASE)
                user = env.get("LD_PRELOAD")
                env["LD_PRELOAD"] = self.shim.path + (":" + user if user else "")
                env[ENV_VAR] = f"v1:sock={sock_fd}:cfg={cfg_fd}:up={1 if user else 0}"
                if self.backstop is not None:
                    env[ENV_VAR] += f":tramp={self.backstop.tramp}"
            try:
                if self.backstop is not None:
                    pid, err_fd = self.backstop.spawn(argv, env, cwd)
                    go_fd = -1  # the backstop's spawn has released the child
                else:
                    pid, go_fd, err_fd = _native.spawn(
                        os.fsencode(exe), [os.fsencode(a) for a in argv],
                        [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()],
                        None if cwd is None else os.fsencode(cwd), None, 0)
            finally:
                for fd in (sock_fd, cfg_fd):
                    if fd >= 0:
                        os.close(fd)
        except BaseException:
            ours.close()
            if cfg >= 0:
                os.close(cfg)
            if self.shim is not None:
                self.shim.remove()
            if self.backstop is not None:
                self.backstop.close()
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.cfg_fd = cfg
        self.root_pid = pid
        self.threads[pid] = _Thread(pid, pid)
        self.spawn_err_fd = err_fd
        if go_fd >= 0:
            os.write(go_fd, b"g")
            os.close(go_fd)
        return pid

    def attach(self, pid: int) -> None:
        raise AttachError(f"the {self.kind} method cannot attach: the shim is loaded when a "
                          "program starts; use --method ptrace")

    def detach_all(self) -> None:
        raise SysvisorError(f"the {self.kind} method cannot detach")

    # memory helpers used by Call
    @staticmethod
    def read(tid, addr, size):
        return _read_mem(tid, addr, size)

    @staticmethod
    def read_str(tid, addr, maxlen):
        if addr == 0:
            return None
        return _read_str(tid, addr, maxlen)

    @staticmethod
    def write(tid, addr, data):
        return _native.write_mem(tid, addr, data)

    # ---- running ----------------------------------------------------------------

    def run(self) -> int:
        self._hook("on_start", self.session)
        if self.root_pid is None:
            self._hook("on_end", self.session)
            return 0
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC)
        receiver = threading.Thread(target=self._receive_loop, name="sysvisor-inprocess-recv",
                                    daemon=True)
        receiver.start()
        if self.compiled is not None:
            self.compiled.start()
        if self.backstop is not None:
            self.backstop.start()  # answers the spawn's execve: the program starts
        ok = False
        try:
            try:
                _, status = os.waitpid(self.root_pid, 0)
            except ChildProcessError:
                status = None
            self.root_status = status
            os.write(self.wake_w, b"r")
            receiver.join()
            if self.backstop is not None:
                self.backstop.join()  # until no task of the tree uses the filter
            ok = True
        finally:
            if not ok:
                try:
                    os.kill(self.root_pid, 9)
                    os.waitpid(self.root_pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
                os.write(self.wake_w, b"q")
                receiver.join(5)
                if self.backstop is not None:
                    self.backstop.stop()  # the rest of the tree fails closed
            self._finish()
        from ..kernel.ptrace import exit_status

        return 0 if self.root_status is None else exit_status(self.root_status)

    def _finish(self) -> None:
        self.pool.stop()
        if self.compiled is not None:
            self.compiled.finish()  # before the regions go: the rest of the records
        for proc in self.procs.values():
            if proc.pidfd >= 0:
                os.close(proc.pidfd)
                proc.pidfd = -1
        for r in self.regions.values():
            r.close()
        self.regions.clear()
        if self.sock is not None:
            self.sock.close()
        for fd in (self.cfg_fd, self.wake_r, self.wake_w):
            if fd >= 0:
                os.close(fd)
        self.cfg_fd = self.wake_r = self.wake_w = -1
        if self.shim is not None:
            self.shim.remove()
        if self.backstop is not None:
            self.backstop.close()
        failed = self.spawn_failure()
        if failed is not None:
            stage, err = failed
            raise SpawnError(f"{'chdir' if stage == 1 else 'exec'}: {os.strerror(err)}")
        if self.lost_hello:
            what = ("every call a layer asked for went through the backstop" if self.backstop
                    else "nothing was intercepted")
            sys.stderr.write(f"sysvisor: the program ran without the {self.kind} shim (the loader "
                             f"did not preload it, or the shim could not start): {what}\n")
        self._hook("on_end", self.session)

    # ---- the receiver -----------------------------------------------------------------

    def _receive_loop(self) -> None:
        poller = select.poll()
        sock = self.sock
        sfd = sock.fileno()
        poller.register(sfd, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        by_pidfd: dict[int, _Proc] = {}
        root_done = False
        try:
            while True:
                if self.eof and root_done and not by_pidfd:
                    for proc in [p for p in self.procs.values() if p.pidfd < 0]:
                        with self.stack_lock:
                            self._proc_ended(proc)  # gone before we could hold a pidfd
                    return
                for fd, ev in poller.poll():
                    if fd == sfd:
                        if not self._drain(poller, by_pidfd):
                            self.eof = True
                            poller.unregister(sfd)
                    elif fd == self.wake_r:
                        cmd = os.read(self.wake_r, 1)
                        if cmd == b"q":
                            return
                        root_done = True
                        self._drain(poller, by_pidfd)
                        if self.root_pid not in self.seen:
                            self.lost_hello = self.follows_root
                            with self.stack_lock:
                                self._exited_unknown_root()
                    else:
                        proc = by_pidfd.pop(fd)
                        poller.unregister(fd)
                        if not self.eof:
                            self._drain(poller, by_pidfd)
                        with self.stack_lock:
                            self._proc_ended(proc)
        except BaseException as exc:  # noqa: BLE001 - the program must not hang on us
            sys.stderr.write(f"sysvisor: {self.kind}: internal error: {exc!r}\n")
            import traceback

            traceback.print_exc()

    def _drain(self, poller, by_pidfd) -> bool:
        """Handle every message waiting; False at end of file."""
        sock = self.sock
        recvmsg = sock.recvmsg
        cmsg_space = socket.CMSG_SPACE(4)
        while True:
            try:
                data, anc, _flags, _a = recvmsg(512, cmsg_space, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return True
            except InterruptedError:
                continue
            if not data:
                return False
            fd = -1
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS and len(cdata) >= 4:
                    fds = struct.unpack(f"{len(cdata) // 4}i", cdata[:len(cdata) // 4 * 4])
                    fd = fds[0]
                    for extra in fds[1:]:
                        os.close(extra)
            try:
                with self.stack_lock:
                    self._message(data, fd, poller, by_pidfd)
            finally:
                if fd >= 0:
                    os.close(fd)

    def _message(self, data: bytes, fd: int, poller, by_pidfd) -> None:
        if len(data) < MSG.size:
            return
        m = MSG.unpack_from(data)
        t = m[0]
        if t == MSG_CALL:
            self._call(m)
        elif t == MSG_EXIT:
            self._exit(m)
        elif t == MSG_HELLO:
            self._hello(m, fd, poller, by_pidfd)
        elif t == MSG_THREAD:
            pid, tid, ptid = m[3], m[4], m[6]
            self.threads[tid] = _Thread(tid, pid)
            proc = self.procs.get(pid)
            if proc is not None:
                proc.tids.add(tid)
            self._call_hooks("on_fork", ptid, tid, "clone")
        elif t == MSG_TEXIT:
            pid, tid, code = m[3], m[4], m[8]
            proc = self.procs.get(pid)
            if proc is not None:
                proc.tids.discard(tid)
            if self.threads.pop(tid, None) is not None or proc is not None:
                self._call_hooks("on_exit", tid, (code & 0xFF) << 8)
        elif t == MSG_GEXIT:
            proc = self.procs.get(m[3])
            if proc is not None:
                proc.exit_code = m[8]
                if proc.pidfd < 0:
                    self._proc_ended(proc)
        elif t == MSG_NOTE:
            text = data[MSG.size:].decode("utf-8", "replace")
            if text not in self.notes:
                self.notes.add(text)
                sys.stderr.write(f"sysvisor: pid {m[3]}: {text}\n")

    def _call_hooks(self, name: str, *args) -> None:
        if self.compiled is not None and self.hooks.get(name):
            t = self.threads.get(args[0]) if args else None  # the thread the event is about
            self.compiled.sync(t.pid if t is not None else None)  # its records come first
        for fn in self.hooks.get(name, ()):
            try:
                fn(*args)
            except Exception as exc:
                self.report_error(fn.__self__, name, exc)

    def _hello(self, m: tuple, fd: int, poller, by_pidfd) -> None:
        kind, rid, pid, tid, ppid, ptid, former = m[1], m[2], m[3], m[4], m[5], m[6], m[7]
        self.seen.add(pid)
        proc = self.procs.get(pid)
        fresh = proc is None
        if fresh:
            proc = self.procs[pid] = _Proc(pid)
            try:
                proc.pidfd = os.pidfd_open(pid)
                poller.register(proc.pidfd, select.POLLIN)
                by_pidfd[proc.pidfd] = proc
            except OSError:
                proc.pidfd = -1  # already gone (and reaped): its exit_group message ends it
        if fd >= 0:
            old = proc.region
            region = _Region(fd, m)
            proc.region = region
            self.regions[region.id] = region
            if self.compiled is not None:
                self.compiled.region(pid, region, kind, tid, former)
            if old is not None and kind == KIND_EXEC:
                self.regions.pop(old.id, None)
                old.close()
        if fresh and pid != self.root_pid and kind in (KIND_START, KIND_EXEC):
            # an image whose fork the shim did not see (preload: posix_spawn, system...)
            self._call_hooks("on_fork", ppid, tid, "fork")
        if kind == KIND_EXEC:
            former = former or tid
            if former != tid:  # a non-leader thread exec'd: it took the leader's tid
                self.threads.pop(former, None)
                proc.tids.discard(former)
            self.threads[tid] = _Thread(tid, pid)
            call = self.pending_exec.pop(former, None) or self.pending_exec.pop(tid, None)
            if call is not None:
                self._complete(call, 0)
            self._call_hooks("on_exec", tid, former)
        elif kind in (KIND_FORK, KIND_VFORK):
            self.threads[tid] = _Thread(tid, pid)
            self._call_hooks("on_fork", ptid, tid, "fork" if kind == KIND_FORK else "vfork")
        else:
            self.threads.setdefault(tid, _Thread(tid, pid))

    def _exited_unknown_root(self) -> None:
        if self.root_status is not None:
            self.threads.pop(self.root_pid, None)
            self._call_hooks("on_exit", self.root_pid, self.root_status)

    def _proc_ended(self, proc: _Proc) -> None:
        if self.compiled is not None:
            self.compiled.gone(proc.pid)  # its last records before its end
        status = None
        if proc.pid == self.root_pid and self.root_status is not None:
            status = self.root_status
        if status is None and proc.pidfd >= 0:
            status = _pidfd_exit_status(proc.pidfd)
        if status is None:
            status = (proc.exit_code & 0xFF) << 8 if proc.exit_code is not None else 9  # unknown: SIGKILL
        if proc.pidfd >= 0:
            os.close(proc.pidfd)
            proc.pidfd = -1
        proc.ended = True
        for tid in sorted(proc.tids - {proc.pid}):
            if self.threads.pop(tid, None) is not None:
                self._call_hooks("on_exit", tid, status)
        self.threads.pop(proc.pid, None)
        self._call_hooks("on_exit", proc.pid, status)
        self.procs.pop(proc.pid, None)
        if proc.region is not None:
            self.regions.pop(proc.region.id, None)
            proc.region.close()
        for key in [k for k, c in self.pending.items() if c.pid == proc.pid]:
            self.pending.pop(key)

    # ---- calls ------------------------------------------------------------------------------

    def _call(self, m: tuple) -> None:
        if self.measure:
            t0 = time.perf_counter_ns()
        slot, rid = m[1], m[2]
        region = self.regions.get(rid)
        if region is None:
            return  # a region we no longer know (its process is gone)
        off = region.slots_off + slot * 128
        (_st, _v, pid, tid, audit, _fl, nr, a0, a1, a2, a3, a4, a5, ip, sp, _val, _seq) = \
            SLOT.unpack_from(region.buf, off)
        self.crossings += 1
        if self.compiled is not None:
            self.compiled.sync(pid)
        abi = self.abis.get(audit)
        if abi is None:
            self._answer(region, off, V_RUN, 0, None)
            return
        if audit == AUDIT_ARCH_X86_64 and nr & X32_SYSCALL_BIT:
            chain, sc, blocking = abi.default_chain, None, self.blocking_default[audit]
        else:
            sc = abi.get(nr)
            chain = abi.chains.get(nr)
            if chain is None:
                chain, blocking = abi.default_chain, self.blocking_default[audit]
            else:
                blocking = nr in abi.blocking
        x = _Xing(region, slot)
        call = InProcessCall(x, pid, tid, abi.table.arch, nr, sc, (a0, a1, a2, a3, a4, a5), ip, sp,
                             self, chain)
        call.audit = audit
        if blocking:
            self.pool.submit(lambda: self._decide(call, region, off, 0))
        else:
            self._decide(call, region, off, t0 if self.measure else 0)

    def _decide(self, call: InProcessCall, region: _Region, off: int, t0: int) -> None:
        call.next()
        v = call.verdict
        if v in (RETURN, FAIL):
            value = -call.value if v == FAIL else to_signed(call.value & _M64, 64)
            if call.exit_hooks:  # the layers above see the answer, as on the other methods
                self._complete(call, value)
                value = call.retval
            self._answer(region, off, V_RETURN, value, None)
        else:
            want = bool(call.exit_hooks)
            if want:
                self.pending[(region.id, call.process.slot)] = call
                if call.syscall is not None and call.syscall.name in ("execve", "execveat"):
                    self.pending_exec[call.tid] = call
            self._answer(region, off, V_RUN, 0, call if (call.args_changed or want) else None, want)
        if t0:
            self._stop_ns.append(time.perf_counter_ns() - t0)

    def _answer(self, region: _Region, off: int, verdict: int, value: int, call, want=False) -> None:
        buf = region.buf
        struct.pack_into("<I", buf, off + 4, verdict)
        if call is not None:
            SLOT_ANSWER.pack_into(buf, off + 20, F_WANT_EXIT if want else 0,
                                  to_signed(call.nr & _M64, 64), *(a & _M64 for a in call.args))
        else:
            struct.pack_into("<I", buf, off + 20, 0)
        struct.pack_into("<q", buf, off + 96, value)
        struct.pack_into("<I", buf, off, SLOT_ANSWERED)
        _syscall(SYS_FUTEX, region.addr + off, FUTEX_WAKE, 1)

    def _exit(self, m: tuple) -> None:
        slot, rid = m[1], m[2]
        call = self.pending.pop((rid, slot), None)
        region = self.regions.get(rid)
        if region is None:
            return
        off = region.slots_off + slot * 128
        result, = struct.unpack_from("<q", region.buf, off + 96)
        if call is None:  # should not happen: answer with the result unchanged
            self._answer(region, off, V_RUN, result, None)
            return
        if self.pending_exec.get(call.tid) is call:
            del self.pending_exec[call.tid]
        self.crossings += 1
        if call.nr in self.abis[call.audit].blocking:
            self.pool.submit(lambda: self._finish_exit(call, region, off, result))
        else:
            self._finish_exit(call, region, off, result)

    def _finish_exit(self, call: InProcessCall, region: _Region, off: int, result: int) -> None:
        self._complete(call, result)
        self._answer(region, off, V_RUN, call.retval, None)

    def _complete(self, call: InProcessCall, result: int) -> None:
        call.retval = result
        call.at_exit = True
        for fn in reversed(call.exit_hooks or ()):
            try:
                fn(call)
            except Exception as exc:
                self.report_error(getattr(fn, "__self__", fn), f"{call.name} exit", exc)


def _pidfd_exit_status(pidfd: int) -> int | None:
    """The wait status of an ended process (Linux 6.15+), else None."""
    buf = bytearray(64)
    struct.pack_into("<Q", buf, 0, PIDFD_INFO_EXIT)
    try:
        fcntl.ioctl(pidfd, PIDFD_GET_INFO, buf, True)
    except OSError:
        return None
    mask, = struct.unpack_from("<Q", buf)
    if not mask & PIDFD_INFO_EXIT:
        return None
    return struct.unpack_from("<i", buf, 60)[0]
