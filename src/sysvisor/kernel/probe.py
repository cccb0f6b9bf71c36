"""Kernel feature probes: what this kernel, for this user, actually offers.

Every probe exercises the real interface (a syscall, a prctl, a ptrace
request on a stopped child, an ioctl on a seccomp listener); the kernel
version is only used to *explain* a missing feature.  Probes that could
change the calling process irreversibly (seccomp filters, no_new_privs,
syscall user dispatch, namespaces, being a tracer) run in a forked child
that reports back through a pipe and always leaves with ``os._exit``.
A probe never raises: a failure becomes ``Feature(available=False, ...)``
with the reason (errno name and text, sysctl, config) in ``detail``.

Example::

    >>> from sysvisor.kernel import probe
    >>> f = probe.probe("openat2")
    >>> f.available, f.since
    (True, '5.6')
    >>> probe.method_status("unotify")
    (True, [])

Stdlib only (ctypes, os, struct, json); importing this module does no
probing.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import mmap
import os
import platform
import re
import select
import signal
import struct
import time
from dataclasses import dataclass, field
from typing import Callable

__all__ = [
    "Feature", "Method", "FEATURES", "METHODS", "kernel_version", "probe",
    "probe_all", "method_status", "method_report", "landlock_abi",
]


@dataclass(frozen=True)
class Feature:
    name: str        # stable id, e.g. "ptrace_get_syscall_info"
    title: str       # human title
    available: bool
    since: str       # first kernel version, e.g. "5.3"
    detail: str      # why missing, or a short note when present


# --------------------------------------------------------------------------
# per-architecture syscall numbers (only the few the probes need)

_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "ptrace": 101, "getppid": 110, "process_vm_readv": 310,
        "seccomp": 317, "bpf": 321, "pidfd_open": 434, "openat2": 437,
        "pidfd_getfd": 438, "landlock_create_ruleset": 444,
    },
    # asm-generic numbering (aarch64, riscv64, loongarch64 share it)
    "aarch64": {
        "ptrace": 117, "getppid": 173, "process_vm_readv": 270,
        "seccomp": 277, "bpf": 280, "pidfd_open": 434, "openat2": 437,
        "pidfd_getfd": 438, "landlock_create_ruleset": 444,
    },
}
_SYSCALLS["arm64"] = _SYSCALLS["aarch64"]
_SYSCALLS["riscv64"] = _SYSCALLS["aarch64"]
_SYSCALLS["loongarch64"] = _SYSCALLS["aarch64"]
_SYSCALLS["amd64"] = _SYSCALLS["x86_64"]

MACHINE = platform.machine()


class _NoSyscall(Exception):
    pass


def _nr(name: str) -> int:
    try:
        return _SYSCALLS[MACHINE][name]
    except KeyError:
        raise _NoSyscall(f"no syscall number for {name} on {MACHINE!r}") from None


# --------------------------------------------------------------------------
# constants (arch independent)

PTRACE_TRACEME = 0
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_ATTACH = 16
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_GET_SYSCALL_INFO = 0x420E
PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG = 0x4210
PTRACE_SET_SYSCALL_INFO = 0x4212
PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_STOP = 128
PTRACE_SYSCALL_INFO_SIZE = 88
PTRACE_SUD_CONFIG_SIZE = 32

PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_SET_SYSCALL_USER_DISPATCH = 59
PR_SYS_DISPATCH_OFF = 0
PR_SYS_DISPATCH_ON = 1

SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_IOCTL_NOTIF_ADDFD = 0x40182103
SECCOMP_IOCTL_NOTIF_SET_FLAGS = 0x40082104
SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP = 1

BPF_PROG_LOAD = 5
BPF_PROG_TYPE_SOCKET_FILTER = 1

LANDLOCK_CREATE_RULESET_VERSION = 1

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_REC = 1 << 14
MS_PRIVATE = 1 << 18

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10

CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39


# --------------------------------------------------------------------------
# small helpers

@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                           ctypes.c_ulong, ctypes.c_ulong]
    libc.ioctl.restype = ctypes.c_int
    libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
    libc.unshare.restype = ctypes.c_int
    libc.unshare.argtypes = [ctypes.c_int]
    libc.mount.restype = ctypes.c_int
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_ulong, ctypes.c_void_p]
    return libc


def _syscall(name: str, *args: int) -> tuple[int, int]:
    """Raw syscall by name: returns (result, errno); errno is 0 on success."""
    nr = _nr(name)
    libc = _libc()
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return rc, (ctypes.get_errno() if rc == -1 else 0)


def _ptrace(req: int, pid: int, addr: int = 0, data: int = 0) -> tuple[int, int]:
    return _syscall("ptrace", req, pid, addr, data)


def _call(fn: Callable[..., int], *args) -> tuple[int, int]:
    ctypes.set_errno(0)
    rc = fn(*args)
    return rc, (ctypes.get_errno() if rc == -1 else 0)


def _ename(e: int) -> str:
    return f"{errno.errorcode.get(e, f'errno {e}')}: {os.strerror(e)}"


def _addr(buf) -> int:
    return ctypes.addressof(buf)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _ver(s: str) -> tuple[int, ...]:
    return tuple(int(x) for x in s.split("."))


@functools.cache
def kernel_version() -> tuple[int, int, int]:
    """The running kernel's version, e.g. ``(6, 18, 44)``."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", os.uname().release)
    if not m:
        return (0, 0, 0)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def _kstr() -> str:
    return ".".join(map(str, kernel_version()))


def _why_missing(since: str, reason: str) -> str:
    """Append the version explanation to a failure reason."""
    if kernel_version()[:2] < _ver(since)[:2]:
        return f"{reason}; kernel {_kstr()} predates {since}"
    return f"{reason}; kernel {_kstr()} >= {since}: disabled by config, sysctl, LSM or a sandbox?"


def _cap_eff() -> int:
    st = _read("/proc/self/status") or ""
    m = re.search(r"^CapEff:\s*([0-9a-fA-F]+)", st, re.M)
    return int(m.group(1), 16) if m else 0


def _has_cap(cap: int) -> bool:
    return bool(_cap_eff() >> cap & 1)


# --------------------------------------------------------------------------
# running a probe in a forked child

_RESULT_FD: int | None = None   # in a probe child: the write end of the result pipe


def _in_child(fn: Callable[[], dict], timeout: float = 5.0) -> dict:
    """Run ``fn`` in a forked child; return its dict (JSON through a pipe).

    Whatever ``fn`` does (seccomp, prctl, unshare, ptrace) stays in the
    child.  If the child dies, times out or raises, the dict says so with
    ``ok=False`` and a ``detail``.
    """
    global _RESULT_FD
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError as e:
        os.close(r)
        os.close(w)
        return {"ok": False, "detail": f"fork failed: {_ename(e.errno or 0)}"}
    if pid == 0:  # child
        code = 3
        try:
            os.close(r)
            _RESULT_FD = w
            try:
                res = fn()
                code = 0
            except _NoSyscall as e:
                res = {"ok": False, "detail": str(e)}
                code = 0
            except BaseException as e:  # noqa: BLE001 - report everything
                res = {"ok": False, "detail": f"probe error: {e!r}"}
                code = 1
            data = json.dumps(res).encode()
            while data:
                n = os.write(w, data)
                data = data[n:]
        finally:
            os._exit(code)
    # parent
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            try:
                rd, _, _ = select.select([r], [], [], left)
            except InterruptedError:
                continue
            if not rd:
                continue
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(r)
    if timed_out:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    status = None
    try:
        while True:
            wpid, st = os.waitpid(pid, 0 if timed_out else os.WNOHANG)
            if wpid == pid:
                status = st
                break
            if time.monotonic() > deadline + 2:
                os.kill(pid, signal.SIGKILL)
                timed_out = True
                os.waitpid(pid, 0)
                break
            time.sleep(0.002)
    except ChildProcessError:
        pass  # somebody else reaped it (a SIGCHLD handler): rely on the pipe
    except OSError:
        pass
    if timed_out:
        return {"ok": False, "detail": f"probe timed out after {timeout:g}s"}
    raw = b"".join(chunks)
    if raw:
        try:
            return json.loads(raw)
        except ValueError:
            pass
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return {"ok": False, "signal": sig,
                "detail": f"probe child killed by {signal.Signals(sig).name}"}
    return {"ok": False, "detail": "probe child exited without a result"}


# --------------------------------------------------------------------------
# seccomp helpers (used inside children only)

class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8),
                ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_RET_K = 0x06


def _prog(insns: list[tuple[int, int, int, int]]):
    arr = (_SockFilter * len(insns))(*[_SockFilter(*i) for i in insns])
    prog = _SockFprog(len(insns), ctypes.cast(arr, ctypes.POINTER(_SockFilter)))
    prog._keep = arr  # keep the array alive
    return prog


def _allow_all():
    return _prog([(_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)])


def _nnp() -> None:
    _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _install(flags: int, prog=None) -> tuple[int, int]:
    """Install a filter in *this* (child) process: (rc, errno)."""
    _nnp()
    prog = prog or _allow_all()
    return _syscall("seccomp", SECCOMP_SET_MODE_FILTER, flags, ctypes.addressof(prog))


def _listener_error(e: int) -> str:
    if e == errno.EBUSY:
        return (f"{_ename(e)}: a seccomp listener already exists in this process's "
                "filter chain (running under a unotify supervisor?)")
    return _ename(e)


# --------------------------------------------------------------------------
# the probes; each returns (available, detail)

Result = tuple[bool, str]


def _p_process_vm_readv() -> Result:
    def child():
        src = ctypes.create_string_buffer(b"sysvisor", 16)
        dst = ctypes.create_string_buffer(16)
        liov = struct.pack("=QQ", _addr(dst), 8)
        riov = struct.pack("=QQ", _addr(src), 8)
        lb = ctypes.create_string_buffer(liov, 16)
        rb = ctypes.create_string_buffer(riov, 16)
        rc, e = _syscall("process_vm_readv", os.getpid(), _addr(lb), 1, _addr(rb), 1, 0)
        if rc == 8 and dst.raw[:8] == b"sysvisor":
            return {"ok": True, "detail": "read own memory"}
        if rc < 0:
            return {"ok": False, "errno": e, "detail": _ename(e)}
        return {"ok": False, "detail": f"short read ({rc})"}
    res = _in_child(child)
    if res["ok"]:
        return True, res["detail"]
    d = res["detail"]
    if res.get("errno") == errno.ENOSYS:
        d += " (CONFIG_CROSS_MEMORY_ATTACH off?)"
    return False, _why_missing("3.2", d) + "; fallback: /proc/PID/mem"


# ---- ptrace: one session in a helper child answers all ptrace probes -----

def _ptrace_session() -> dict:
    """In the helper child: fork a tracee, seize it, stop it at a syscall
    stop and try the ptrace requests on it."""
    res: dict[str, dict] = {}
    r2, w2 = os.pipe()
    ready_r, ready_w = os.pipe()
    t = os.fork()
    if t == 0:  # tracee: block in read() until the helper goes away
        try:
            os.close(w2)
            os.close(ready_r)
            if _RESULT_FD is not None:
                os.close(_RESULT_FD)
            # A process that changed uid (setresuid from root) is not dumpable,
            # and neither are its fork children: ptrace would fail with EPERM
            # for a reason a real (exec'd) tracee does not have.  execve resets
            # dumpable, so mirror that here.
            _libc().prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
            os.write(ready_w, b"r")
            os.close(ready_w)
            os.read(r2, 1)
        finally:
            os._exit(0)
    os.close(r2)
    os.close(ready_w)
    try:
        os.read(ready_r, 1)  # the tracee is dumpable now
        os.close(ready_r)
        return _ptrace_on(t, res)
    finally:
        try:
            os.kill(t, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(t, 0)
        except OSError:
            pass
        os.close(w2)


def _ptrace_on(t: int, res: dict) -> dict:
    opts = PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD
    rc, e = _ptrace(PTRACE_SEIZE, t, 0, opts)
    seized = rc == 0
    if seized:
        res["seize"] = {"ok": True, "detail": "seized a child"}
        res["exitkill"] = {"ok": True, "detail": "accepted by PTRACE_SEIZE"}
    else:
        rc2, e2 = _ptrace(PTRACE_SEIZE, t, 0, PTRACE_O_TRACESYSGOOD)
        if rc2 == 0:
            seized = True
            res["seize"] = {"ok": True, "detail": "seized a child"}
            res["exitkill"] = {"ok": False, "errno": e,
                               "detail": f"{_ename(e)}: option rejected"}
        else:
            res["seize"] = {"ok": False, "errno": e2, "detail": _ename(e2)}
            res["exitkill"] = {"ok": False, "errno": e2,
                               "detail": f"not tested: PTRACE_SEIZE failed ({_ename(e2)})"}
    if seized:
        rc, e = _ptrace(PTRACE_INTERRUPT, t)
    else:  # pre-3.4 or refused: fall back to PTRACE_ATTACH for the rest
        rc, e = _ptrace(PTRACE_ATTACH, t)
        if rc == 0:
            _ptrace(PTRACE_SETOPTIONS, t, 0, PTRACE_O_TRACESYSGOOD)
    if rc != 0:
        msg = f"could not trace a child: {_ename(e)}"
        for k in ("get_info", "set_info", "sud_config"):
            res[k] = {"ok": False, "errno": e, "detail": msg}
        return res
    # wait for the first stop, then resume to a syscall stop
    at_syscall = False
    for _ in range(20):
        _, st = os.waitpid(t, 0)
        if not os.WIFSTOPPED(st):
            break
        if os.WSTOPSIG(st) == (signal.SIGTRAP | 0x80):
            at_syscall = True
            break
        _ptrace(PTRACE_SYSCALL, t, 0, 0)
    if not at_syscall:
        msg = "could not bring the child to a syscall stop"
        for k in ("get_info", "set_info", "sud_config"):
            res[k] = {"ok": False, "detail": msg}
        return res

    # PTRACE_GET_SYSCALL_INFO: returns the size of the info it has
    info = ctypes.create_string_buffer(PTRACE_SYSCALL_INFO_SIZE)
    rc, e = _ptrace(PTRACE_GET_SYSCALL_INFO, t, PTRACE_SYSCALL_INFO_SIZE, _addr(info))
    got = rc > 0
    op = info.raw[0]
    if got:
        names = {0: "none", 1: "entry", 2: "exit", 3: "seccomp"}
        res["get_info"] = {"ok": op in (1, 2),
                           "detail": f"op={names.get(op, op)} at a syscall stop"}
    else:
        res["get_info"] = {"ok": False, "errno": e, "detail": _ename(e)}

    # PTRACE_SET_SYSCALL_INFO.  Discriminator: on a tracee stopped in a
    # ptrace-stop, ptrace_check_attach() has passed, so an unknown request
    # falls through ptrace_request()'s default and fails with EIO, while a
    # known request validates its argument (EINVAL) or succeeds.  Best
    # proof: write back, unchanged, what GET returned -> 0.  Without GET,
    # send op=0xff, which 6.16+ rejects with EINVAL and older kernels with EIO.
    if got and op in (1, 2, 3):
        rc, e = _ptrace(PTRACE_SET_SYSCALL_INFO, t, PTRACE_SYSCALL_INFO_SIZE, _addr(info))
        if rc == 0:
            res["set_info"] = {"ok": True,
                               "detail": "GET then SET of unchanged info at a syscall stop"}
        elif e == errno.EIO:
            res["set_info"] = {"ok": False, "errno": e,
                               "detail": f"{_ename(e)}: request unknown to this kernel"}
        else:
            res["set_info"] = {"ok": False, "errno": e,
                               "detail": f"{_ename(e)}: request known but rejected unchanged info"}
    else:
        bogus = ctypes.create_string_buffer(PTRACE_SYSCALL_INFO_SIZE)
        bogus[0] = 0xFF
        rc, e = _ptrace(PTRACE_SET_SYSCALL_INFO, t, PTRACE_SYSCALL_INFO_SIZE, _addr(bogus))
        if e == errno.EINVAL:
            res["set_info"] = {"ok": True,
                               "detail": "request recognised (EINVAL for a bogus op); round trip not tested"}
        else:
            res["set_info"] = {"ok": False, "errno": e,
                               "detail": (f"{_ename(e)}: request unknown to this kernel"
                                          if e == errno.EIO else _ename(e))}

    # PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG
    cfg = ctypes.create_string_buffer(PTRACE_SUD_CONFIG_SIZE)
    rc, e = _ptrace(PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG, t, PTRACE_SUD_CONFIG_SIZE, _addr(cfg))
    if rc == 0:
        mode = struct.unpack_from("=Q", cfg.raw)[0]
        res["sud_config"] = {"ok": True, "detail": f"read the child's SUD config (mode={mode})"}
    elif e == errno.EIO:
        res["sud_config"] = {"ok": False, "errno": e,
                             "detail": f"{_ename(e)}: request unknown to this kernel"}
    elif e == errno.EINVAL:
        res["sud_config"] = {"ok": False, "errno": e,
                             "detail": f"{_ename(e)}: no syscall user dispatch on this arch/config"}
    else:
        res["sud_config"] = {"ok": False, "errno": e, "detail": _ename(e)}
    return res


@functools.cache
def _ptrace_results() -> dict:
    res = _in_child(_ptrace_session, timeout=10.0)
    if "seize" not in res:  # the helper failed as a whole
        return {k: {"ok": False, "detail": res.get("detail", "ptrace probe failed")}
                for k in ("seize", "exitkill", "get_info", "set_info", "sud_config")}
    return res


def _ptrace_hint(e: int | None) -> str:
    if e == errno.EPERM:
        ys = _read("/proc/sys/kernel/yama/ptrace_scope")
        if ys is not None:
            return f" (kernel.yama.ptrace_scope={ys})"
        return " (ptrace denied: LSM, seccomp or container policy?)"
    return ""


def _ptrace_probe(key: str, since: str, fallback: str = "") -> Callable[[], Result]:
    def fn() -> Result:
        r = _ptrace_results()[key]
        if r["ok"]:
            return True, r["detail"]
        d = r["detail"] + _ptrace_hint(r.get("errno"))
        if r.get("errno") in (errno.EIO, errno.EINVAL) or "rejected" in d:
            d = _why_missing(since, d)
        return False, d + fallback
    return fn


# ---- seccomp --------------------------------------------------------------

def _p_seccomp_filter() -> Result:
    def child():
        prog = _allow_all()
        rc, e = _install(0, prog)
        if rc == 0:
            return {"ok": True, "detail": "installed an allow-all filter in a child"}
        if e == errno.ENOSYS:  # seccomp(2) is 3.17; the filter mode is 3.5
            rc, e = _call(_libc().prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
                          ctypes.addressof(prog), 0, 0)
            if rc == 0:
                return {"ok": True, "detail": "installed via prctl (no seccomp(2) syscall)"}
        return {"ok": False, "errno": e, "detail": _ename(e)}
    res = _in_child(child)
    if res["ok"]:
        return True, res["detail"]
    return False, _why_missing("3.5", res["detail"])


def _action_avail(action: int) -> tuple[int, int]:
    a = ctypes.c_uint32(action)
    return _syscall("seccomp", SECCOMP_GET_ACTION_AVAIL, 0, ctypes.addressof(a))


def _p_seccomp_ret_trace() -> Result:
    def child():
        rc, e = _action_avail(SECCOMP_RET_TRACE)
        if rc == 0:
            return {"ok": True, "detail": "SECCOMP_GET_ACTION_AVAIL says yes"}
        if e == errno.EOPNOTSUPP:
            return {"ok": False, "errno": e, "detail": f"{_ename(e)}: action not available"}
        # GET_ACTION_AVAIL predates us (4.14): install RET_TRACE for getppid;
        # with no tracer attached the call must fail with ENOSYS.
        ppid = _nr("getppid")
        prog = _prog([(_BPF_LD_W_ABS, 0, 0, 0), (_BPF_JEQ_K, 0, 1, ppid),
                      (_BPF_RET_K, 0, 0, SECCOMP_RET_TRACE),
                      (_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)])
        rc, e2 = _install(0, prog)
        if rc != 0:
            return {"ok": False, "errno": e2, "detail": f"filter install: {_ename(e2)}"}
        rc, e3 = _syscall("getppid")
        if rc == -1 and e3 == errno.ENOSYS:
            return {"ok": True, "detail": "RET_TRACE filter works (ENOSYS without a tracer)"}
        return {"ok": False, "detail": f"RET_TRACE filter did not act (rc={rc})"}
    res = _in_child(child)
    if res["ok"]:
        return True, res["detail"]
    return False, _why_missing("3.5", res["detail"])


def _p_seccomp_user_notif() -> Result:
    def child():
        rc, e = _action_avail(SECCOMP_RET_USER_NOTIF)
        if rc != 0 and e == errno.EOPNOTSUPP:
            return {"ok": False, "errno": e, "detail": f"{_ename(e)}: RET_USER_NOTIF not available"}
        fd, e = _install(SECCOMP_FILTER_FLAG_NEW_LISTENER)
        if fd >= 0:
            return {"ok": True, "detail": "got a listener fd (NEW_LISTENER)"}
        return {"ok": False, "errno": e, "detail": _listener_error(e)}
    res = _in_child(child)
    if res["ok"]:
        return True, res["detail"]
    return False, _why_missing("5.0", res["detail"])


def _p_seccomp_addfd() -> Result:
    # Discriminator: NOTIF_ADDFD with a valid struct but a notification id
    # that does not exist fails with ENOENT (5.9+); an ioctl the listener
    # does not know fails with EINVAL.
    def child():
        fd, e = _install(SECCOMP_FILTER_FLAG_NEW_LISTENER)
        if fd < 0:
            return {"ok": False, "errno": e, "detail": "no listener: " + _listener_error(e)}
        r, w = os.pipe()
        addfd = ctypes.create_string_buffer(struct.pack("=QIIII", 0xDEADBEEF, 0, r, 0, 0), 24)
        rc, e = _call(_libc().ioctl, fd, SECCOMP_IOCTL_NOTIF_ADDFD, _addr(addfd))
        if rc == -1 and e == errno.ENOENT:
            return {"ok": True, "detail": "NOTIF_ADDFD known (ENOENT for an unknown id)"}
        if rc == -1 and e == errno.EINVAL:
            return {"ok": False, "errno": e, "detail": f"{_ename(e)}: ioctl unknown to the listener"}
        return {"ok": False, "errno": e, "detail": f"unexpected: rc={rc} {_ename(e) if e else ''}"}
    res = _in_child(child)
    if res["ok"]:
        return True, res["detail"]
    return False, _why_missing("5.9", res["detail"])


def _p_seccomp_wait_killable_recv() -> Result:
    def child():
        fd, e = _install(SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
        if fd >= 0:
            return {"ok": True, "detail": "NEW_LISTENER|WAIT_KILLABLE_RECV accepted"}
        if e == errno.EINVAL:
            return {"ok": False, "errno": e, "detail": f"{_ename(e)}: filter flag unknown"}
        return {"ok": False, "errno": e, "detail": _listener_error(e)}
    res = _in_child(child)
    if res["ok"]:
        return True, res["detail"]
    return False, _why_missing("5.19", res["detail"])


def _p_seccomp_sync_wake_up() -> Result:
    def child():
        fd, e = _install(SECCOMP_FILTER_FLAG_NEW_LISTENER)
        if fd < 0:
            return {"ok": False, "errno": e, "detail": "no listener: " + _listener_error(e)}
        rc, e = _call(_libc().ioctl, fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                      SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
        if rc == 0:
            return {"ok": True, "detail": "NOTIF_SET_FLAGS(SYNC_WAKE_UP) accepted"}
        if e == errno.EINVAL:
            return {"ok": False, "errno": e, "detail": f"{_ename(e)}: ioctl or flag unknown"}
        return {"ok": False, "errno": e, "detail": _ename(e)}
    res = _in_child(child)
    if res["ok"]:
        return True, res["detail"]
    return False, _why_missing("6.6", res["detail"])


# ---- pidfd, openat2 ---------------------------------------------------------

def _p_pidfd_open() -> Result:
    def child():
        fd, e = _syscall("pidfd_open", os.getpid(), 0)
        if fd >= 0:
            return {"ok": True, "detail": "opened a pidfd for itself"}
        return {"ok": False, "errno": e, "detail": _ename(e)}
    res = _in_child(child)
    return (True, res["detail"]) if res["ok"] else (False, _why_missing("5.3", res["detail"]))


def _p_pidfd_getfd() -> Result:
    def child():
        pfd, e = _syscall("pidfd_open", os.getpid(), 0)
        if pfd < 0:
            return {"ok": False, "errno": e, "detail": f"pidfd_open: {_ename(e)}"}
        r, w = os.pipe()
        fd, e = _syscall("pidfd_getfd", pfd, r, 0)
        if fd >= 0:
            return {"ok": True, "detail": "copied an fd from itself"}
        d = _ename(e)
        if e == errno.EPERM:
            d += " (ptrace access check failed)"
        return {"ok": False, "errno": e, "detail": d}
    res = _in_child(child)
    return (True, res["detail"]) if res["ok"] else (False, _why_missing("5.6", res["detail"]))


def _p_openat2() -> Result:
    def child():
        path = ctypes.create_string_buffer(b"/proc/self/root")
        AT_FDCWD = -100
        for resolve, what in ((RESOLVE_IN_ROOT, "RESOLVE_IN_ROOT"),
                              (RESOLVE_NO_MAGICLINKS, "RESOLVE_NO_MAGICLINKS")):
            how = ctypes.create_string_buffer(
                struct.pack("=QQQ", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, 0), 24)
            p = path if resolve == RESOLVE_IN_ROOT else ctypes.create_string_buffer(b"/")
            fd, e = _syscall("openat2", AT_FDCWD, _addr(p), _addr(how), 24)
            if fd < 0:
                return {"ok": False, "errno": e, "detail": _ename(e)}
            os.close(fd)
            how = ctypes.create_string_buffer(
                struct.pack("=QQQ", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, resolve), 24)
            dfd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
            rel = ctypes.create_string_buffer(b"etc" if resolve == RESOLVE_IN_ROOT else b".")
            fd, e = _syscall("openat2", dfd, _addr(rel), _addr(how), 24)
            if fd < 0 and e not in (errno.ENOENT, errno.ENOTDIR):
                return {"ok": False, "errno": e, "detail": f"{what}: {_ename(e)}"}
            if fd >= 0:
                os.close(fd)
            os.close(dfd)
        return {"ok": True, "detail": "opened with RESOLVE_IN_ROOT and RESOLVE_NO_MAGICLINKS"}
    res = _in_child(child)
    return (True, res["detail"]) if res["ok"] else (False, _why_missing("5.6", res["detail"]))


# ---- syscall user dispatch --------------------------------------------------

def _p_syscall_user_dispatch() -> Result:
    def child():
        selector = ctypes.c_int8(0)  # SYSCALL_DISPATCH_FILTER_ALLOW
        libc = _libc()
        rc, e = _call(libc.prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
                      0, 0, ctypes.addressof(selector))
        if rc != 0:
            d = _ename(e)
            if e == errno.EINVAL:
                d += " (prctl option unknown, or no generic entry code on this arch)"
            return {"ok": False, "errno": e, "detail": d}
        _call(libc.prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0)
        return {"ok": True, "detail": "armed (selector ALLOW) and disarmed in a child"}
    res = _in_child(child)
    return (True, res["detail"]) if res["ok"] else (False, _why_missing("5.11", res["detail"]))


# ---- landlock ------------------------------------------------------------------

@functools.cache
def _landlock() -> dict:
    def child():
        abi, e = _syscall("landlock_create_ruleset", 0, 0, LANDLOCK_CREATE_RULESET_VERSION)
        if abi >= 1:
            return {"ok": True, "abi": abi, "detail": f"ABI {abi}"}
        d = _ename(e)
        if e == errno.EOPNOTSUPP:
            d += " (built in but not enabled: add landlock to the lsm= boot parameter)"
        elif e == errno.ENOSYS:
            d += " (CONFIG_SECURITY_LANDLOCK off?)"
        return {"ok": False, "errno": e, "detail": d}
    return _in_child(child)


def landlock_abi() -> int:
    """The Landlock ABI version, 0 when Landlock is not available."""
    return int(_landlock().get("abi", 0) or 0)


def _p_landlock() -> Result:
    res = _landlock()
    return (True, res["detail"]) if res["ok"] else (False, _why_missing("5.13", res["detail"]))


# ---- eBPF, BTF, tracefs ----------------------------------------------------------

def _p_ebpf() -> Result:
    def child():
        insns = struct.pack("=BBhi", 0xB7, 0, 0, 0) + struct.pack("=BBhi", 0x95, 0, 0, 0)
        ibuf = ctypes.create_string_buffer(insns, len(insns))
        lic = ctypes.create_string_buffer(b"GPL")
        attr = ctypes.create_string_buffer(
            struct.pack("=IIQQIIQII", BPF_PROG_TYPE_SOCKET_FILTER, 2, _addr(ibuf), _addr(lic),
                        0, 0, 0, 0, 0), 48)
        fd, e = _syscall("bpf", BPF_PROG_LOAD, _addr(attr), 48)
        if fd >= 0:
            os.close(fd)
            return {"ok": True, "detail": "loaded a socket filter program"}
        return {"ok": False, "errno": e, "detail": _ename(e)}
    res = _in_child(child)
    ub = _read("/proc/sys/kernel/unprivileged_bpf_disabled")
    if res["ok"]:
        d = res["detail"]
        if ub is not None and ub != "0" and os.geteuid() == 0:
            d += f" (as root; kernel.unprivileged_bpf_disabled={ub})"
        return True, d
    d = res["detail"]
    if res.get("errno") == errno.EPERM:
        if ub is not None and ub != "0":
            d += f"; kernel.unprivileged_bpf_disabled={ub} (needs CAP_BPF or CAP_SYS_ADMIN)"
        else:
            d += " (not permitted for this user)"
        return False, d
    return False, _why_missing("3.18", d)


def _p_btf() -> Result:
    path = "/sys/kernel/btf/vmlinux"
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        return False, f"{path} missing (CONFIG_DEBUG_INFO_BTF off?)"
    except OSError as e:
        return False, f"{path}: {_ename(e.errno or 0)}"
    if len(head) >= 2 and struct.unpack("=H", head[:2])[0] == 0xEB9F:
        return True, path
    return False, f"{path}: bad magic {head[:2].hex()}"


def _mounts() -> list[tuple[str, str]]:
    out = []
    for line in (_read("/proc/self/mountinfo") or "").splitlines():
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) >= 5 and rparts:
            mnt = parts[4].replace("\\040", " ")
            out.append((mnt, rparts[0]))
    return out


def _p_tracefs_raw_syscalls() -> Result:
    cands = []
    for mnt, fs in _mounts():
        if fs == "tracefs":
            cands.append(mnt)
        elif fs == "debugfs":
            cands.append(os.path.join(mnt, "tracing"))
    denied = None
    for base in cands:
        ev = os.path.join(base, "events", "raw_syscalls", "sys_enter")
        try:
            os.stat(ev)
            return True, f"mounted at {base}"
        except PermissionError:
            denied = base
        except OSError:
            continue
    if denied:
        return False, f"mounted at {denied}, but EACCES: not readable by this user"
    registered = "tracefs" in (_read("/proc/filesystems") or "")
    if cands:
        return False, f"mounted at {', '.join(cands)} but no events/raw_syscalls (CONFIG_FTRACE_SYSCALLS off?)"
    if not registered:
        return False, "tracefs not in /proc/filesystems (CONFIG_TRACING off?)"
    if not _has_cap(CAP_SYS_ADMIN):
        return False, "tracefs not mounted; mounting it needs CAP_SYS_ADMIN"

    # root: try to mount it in a private mount namespace of a child
    def child():
        libc = _libc()
        rc, e = _call(libc.unshare, CLONE_NEWNS)
        if rc != 0:
            return {"ok": False, "detail": f"unshare(CLONE_NEWNS): {_ename(e)}"}
        _call(libc.mount, None, b"/", None, MS_REC | MS_PRIVATE, None)
        target = b"/sys/kernel/tracing"
        rc, e = _call(libc.mount, b"nodev", target, b"tracefs", 0, None)
        if rc != 0:
            return {"ok": False, "detail": f"mount -t tracefs: {_ename(e)}"}
        ok = os.path.isdir("/sys/kernel/tracing/events/raw_syscalls/sys_enter")
        return {"ok": ok, "detail": "" if ok else
                "tracefs mounts but has no events/raw_syscalls (CONFIG_FTRACE_SYSCALLS off?)"}
    res = _in_child(child)
    if res["ok"]:
        return True, "not mounted; mountable (mount -t tracefs nodev /sys/kernel/tracing)"
    return False, "not mounted; " + res["detail"]


# ---- ia32 emulation ------------------------------------------------------------

def _kconfig() -> dict[str, str]:
    text = None
    try:
        import gzip  # rarely needed: keep it off the import path

        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        text = _read(f"/boot/config-{os.uname().release}")
    cfg: dict[str, str] = {}
    for line in (text or "").splitlines():
        if line.startswith("CONFIG_"):
            k, _, v = line.partition("=")
            cfg[k] = v
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            cfg[line[2:-11]] = "n"
    return cfg


def _ia32_static() -> str:
    """What config and command line say about IA32 emulation (explanation only)."""
    bits = []
    cmd = _read("/proc/cmdline") or ""
    m = re.search(r"(?:^|\s)ia32_emulation=(\S+)", cmd)
    if m:
        bits.append(f"cmdline ia32_emulation={m.group(1)}")
    cfg = _kconfig()
    if cfg:
        bits.append(f"CONFIG_IA32_EMULATION={cfg.get('CONFIG_IA32_EMULATION', 'n')}")
        if cfg.get("CONFIG_IA32_EMULATION_DEFAULT_DISABLED") == "y":
            bits.append("CONFIG_IA32_EMULATION_DEFAULT_DISABLED=y")
    else:
        bits.append("kernel config not readable")
    return ", ".join(bits)


def _p_ia32_emulation() -> Result:
    if MACHINE not in ("x86_64", "amd64"):
        return False, f"not applicable on {MACHINE} (x86_64 only)"

    # Real test: run `mov eax, 20 (i386 getpid); int 0x80; ret` from an
    # executable page in a child.  Without IA32 emulation int 0x80 faults
    # (SIGSEGV); a seccomp filter that checks the arch may kill (SIGSYS).
    def child():

        code = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])
        m = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        m.write(code)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
        libc = _libc()
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        rc, e = _call(libc.mprotect, addr, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_EXEC)
        if rc != 0:
            return {"ok": False, "untested": True,
                    "detail": f"could not make a page executable: {_ename(e)}"}
        pid = ctypes.CFUNCTYPE(ctypes.c_int32)(addr)()
        if pid == os.getpid():
            return {"ok": True, "detail": "int 0x80 getpid works from a 64-bit process"}
        return {"ok": False, "detail": f"int 0x80 getpid returned {pid}"}
    res = _in_child(child)
    static = _ia32_static()
    if res["ok"]:
        return True, res["detail"]
    sig = res.get("signal")
    if sig == signal.SIGSEGV:
        return False, f"int 0x80 faults (SIGSEGV): IA32 emulation off ({static})"
    if sig == signal.SIGSYS:
        return False, f"int 0x80 killed by SIGSYS: a seccomp filter denies foreign-ABI calls ({static})"
    if res.get("untested"):
        return False, f"unknown: {res['detail']} ({static})"
    return False, f"{res['detail']} ({static})"


# ---- user namespaces -------------------------------------------------------------

def _p_user_namespaces() -> Result:
    def child():
        rc, e = _call(_libc().unshare, CLONE_NEWUSER)
        if rc == 0:
            return {"ok": True, "detail": "unshare(CLONE_NEWUSER) in a child"}
        return {"ok": False, "errno": e, "detail": _ename(e)}
    res = _in_child(child)
    if res["ok"]:
        return True, res["detail"]
    d = res["detail"]
    hints = []
    for path, name in (("/proc/sys/user/max_user_namespaces", "user.max_user_namespaces"),
                       ("/proc/sys/kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone"),
                       ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
                        "kernel.apparmor_restrict_unprivileged_userns")):
        v = _read(path)
        if v is not None:
            hints.append(f"{name}={v}")
    if res.get("errno") == errno.EPERM:
        d += " (not permitted for this user, or inside a chroot/seccomp sandbox)"
    if hints:
        d += "; " + ", ".join(hints)
    return False, d


# --------------------------------------------------------------------------
# the registry: one place

FEATURES: dict[str, tuple[str, str, Callable[[], Result]]] = {
    "ptrace_seize": ("PTRACE_SEIZE / PTRACE_INTERRUPT", "3.4",
                     _ptrace_probe("seize", "3.4")),
    "ptrace_exitkill": ("PTRACE_O_EXITKILL", "3.8",
                        _ptrace_probe("exitkill", "3.8")),
    "ptrace_get_syscall_info": ("PTRACE_GET_SYSCALL_INFO", "5.3",
                                _ptrace_probe("get_info", "5.3",
                                              "; fallback: PTRACE_GETREGSET")),
    "ptrace_set_syscall_info": ("PTRACE_SET_SYSCALL_INFO", "6.16",
                                _ptrace_probe("set_info", "6.16",
                                              "; fallback: PTRACE_SETREGSET")),
    "process_vm_readv": ("process_vm_readv/writev", "3.2", _p_process_vm_readv),
    "seccomp_filter": ("seccomp BPF filters", "3.5", _p_seccomp_filter),
    "seccomp_ret_trace": ("SECCOMP_RET_TRACE", "3.5", _p_seccomp_ret_trace),
    "seccomp_user_notif": ("seccomp user notification", "5.0", _p_seccomp_user_notif),
    "seccomp_addfd": ("SECCOMP_IOCTL_NOTIF_ADDFD", "5.9", _p_seccomp_addfd),
    "seccomp_wait_killable_recv": ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "5.19",
                                   _p_seccomp_wait_killable_recv),
    "seccomp_sync_wake_up": ("SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP", "6.6",
                             _p_seccomp_sync_wake_up),
    "pidfd_open": ("pidfd_open", "5.3", _p_pidfd_open),
    "pidfd_getfd": ("pidfd_getfd", "5.6", _p_pidfd_getfd),
    "openat2": ("openat2 (RESOLVE_IN_ROOT)", "5.6", _p_openat2),
    "syscall_user_dispatch": ("syscall user dispatch (prctl)", "5.11",
                              _p_syscall_user_dispatch),
    "ptrace_sud_config": ("PTRACE_GET/SET_SYSCALL_USER_DISPATCH_CONFIG", "6.4",
                          _ptrace_probe("sud_config", "6.4")),
    "landlock": ("Landlock LSM", "5.13", _p_landlock),
    "ebpf": ("bpf() program load", "3.18", _p_ebpf),
    "btf": ("kernel BTF (/sys/kernel/btf/vmlinux)", "5.4", _p_btf),
    "tracefs_raw_syscalls": ("tracefs raw_syscalls events", "4.1", _p_tracefs_raw_syscalls),
    "ia32_emulation": ("IA32 emulation (int 0x80 from 64-bit)", "2.6", _p_ia32_emulation),
    "user_namespaces": ("unprivileged user namespaces", "3.8", _p_user_namespaces),
}


def presumed(name: str) -> bool:
    """Whether this kernel is new enough to have the feature (no probing):
    the fast path for starting a session; a feature that is present by
    version but blocked (a container's seccomp policy, Yama) shows up as a
    failure when used, which is then explained with probe()."""
    return kernel_version()[:2] >= _ver(FEATURES[name][1])[:2]


@functools.cache
def probe(name: str) -> Feature:
    """Probe one feature by its id (cached per process). Never raises for a
    known name; raises KeyError for an unknown one."""
    title, since, fn = FEATURES[name]
    try:
        available, detail = fn()
    except _NoSyscall as e:
        available, detail = False, str(e)
    except Exception as e:  # noqa: BLE001 - a probe must never raise
        available, detail = False, f"probe error: {e!r}"
    return Feature(name, title, bool(available), since, detail)


def probe_all() -> list[Feature]:
    """Probe every feature in registry order."""
    return [probe(name) for name in FEATURES]


# --------------------------------------------------------------------------
# methods: what each needs

@dataclass(frozen=True)
class Method:
    name: str
    title: str
    requires: tuple[str, ...]
    optional: dict[str, str] = field(default_factory=dict)   # feature -> what it improves / fallback
    note: str = ""
    extra: Callable[[], str | None] | None = None             # returns a reason when unusable


def _ebpf_caps() -> str | None:
    if os.geteuid() == 0 and _has_cap(CAP_SYS_ADMIN):
        return None
    if _has_cap(CAP_SYS_ADMIN) or (_has_cap(CAP_BPF) and _has_cap(CAP_PERFMON)):
        return None
    return "needs root, CAP_SYS_ADMIN, or CAP_BPF + CAP_PERFMON (5.8)"


_PTRACE_REQ = ("ptrace_seize", "ptrace_get_syscall_info")
_PTRACE_OPT = {
    "ptrace_set_syscall_info": "change nr/args/return in one call (else GETREGSET/SETREGSET)",
    "process_vm_readv": "fast tracee memory access (else /proc/PID/mem)",
    "ptrace_exitkill": "tracees die with the supervisor (else SIGKILL on exit handlers)",
}

_UNOTIFY_REQ = ("seccomp_user_notif", "seccomp_addfd", "pidfd_open", "pidfd_getfd")

METHODS: dict[str, Method] = {
    "ptrace": Method("ptrace", "ptrace syscall stops", _PTRACE_REQ, dict(_PTRACE_OPT)),
    "seccomp": Method("seccomp", "ptrace + SECCOMP_RET_TRACE",
                      _PTRACE_REQ + ("seccomp_filter", "seccomp_ret_trace"), dict(_PTRACE_OPT)),
    "unotify": Method("unotify", "seccomp user notification", _UNOTIFY_REQ,
                      {"openat2": "race-free opens on the program's behalf (confinement)",
                       "seccomp_wait_killable_recv": "non-fatal signals do not abort a received call",
                       "seccomp_sync_wake_up": "lower round-trip latency",
                       "landlock": "kernel-enforced backstop for confinement",
                       "process_vm_readv": "fast tracee memory access (else /proc/PID/mem)"}),
    "sud": Method("sud", "syscall user dispatch (in-process)", ("syscall_user_dispatch",),
                  {"ptrace_sud_config": "inspect/set a stopped thread's SUD config"}),
    "preload": Method("preload", "LD_PRELOAD libc overlay (in-process)", (),
                      note="needs nothing from the kernel, only dynamically linked targets "
                           "(a dynamic libc); static binaries are not intercepted"),
    "sud+backstop": Method("sud+backstop", "sud, with seccomp user notification for the calls "
                           "the shim does not make",
                           ("syscall_user_dispatch",) + _UNOTIFY_REQ,
                           {"ptrace_sud_config": "inspect/set a stopped thread's SUD config",
                            "seccomp_sync_wake_up": "lower round-trip latency"}),
    "preload+backstop": Method("preload+backstop", "preload, with seccomp user notification for "
                               "the calls the shim does not make", _UNOTIFY_REQ,
                               {"seccomp_sync_wake_up": "lower round-trip latency"}),
    "ebpf": Method("ebpf", "eBPF raw_syscalls tracepoints (observe only)",
                   ("ebpf", "btf", "tracefs_raw_syscalls"),
                   extra=_ebpf_caps),
}


def method_status(name: str) -> tuple[bool, list[str]]:
    """Whether a method is usable here, and why not: one reason per missing
    required feature (with its since-version) or privilege."""
    m = METHODS[name]
    reasons = []
    for feat in m.requires:
        f = probe(feat)
        if not f.available:
            reasons.append(f"{feat} (since {f.since}) missing: {f.detail}")
    if m.extra is not None:
        why = m.extra()
        if why:
            reasons.append(why)
    return (not reasons, reasons)


def method_report(name: str) -> dict:
    """method_status plus the optional features that are missing."""
    m = METHODS[name]
    usable, reasons = method_status(name)
    missing_opt = [f"{feat} (since {probe(feat).since}): {what}"
                   for feat, what in m.optional.items() if not probe(feat).available]
    return {"name": name, "title": m.title, "usable": usable, "reasons": reasons,
            "requires": list(m.requires), "optional": list(m.optional),
            "missing_optional": missing_opt, "note": m.note}
