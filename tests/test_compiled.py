"""Compiled layers: the stack compiler, the policy blob, and the C evaluator
(native/svpolicy.c) driven through ctypes as the in-process shim will
drive it (tests/svharness.c), with real system calls where the layers act
on them (remapped opens, getcwd, readlink)."""
from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import os
import random
import re
import shutil
import signal
import struct
import tempfile
import zlib

import pytest

import sysvisor
import sysvisor.cli
from sysvisor import arg
from sysvisor.compiled import Options, compile_stack
from sysvisor.compiled import blob as B
from sysvisor.compiled.captures import coverage, syscall_ops
from sysvisor.compiled.drain import Drainer
from sysvisor.errors import UsageError
from sysvisor.layers.fakeroot import FakeRoot
from sysvisor.layers.faults import Faults, Injection, When, parse_inject
from sysvisor.layers.record import Record
from sysvisor.layers.remap import Bind, Remap
from sysvisor.record.format import (BUFFER, ENTRY, EXIT_PHASE, NO_EXIT, STRING, STRUCT, SYSCALL,
                                    TRUNCATED, Writer, read_records)
from sysvisor.tables import native_arch, table
from conftest import run_as
import svharness as H

pytestmark = pytest.mark.skipif(native_arch() != "x86_64",
                                reason="the tests' syscall numbers are x86_64's")
X86 = table("x86_64")
AUDIT = X86.audit_arch
NR = {n: X86.by_name[n].nr for n in ("read", "write", "openat", "getpid", "getuid", "geteuid",
                                     "getresuid", "setuid", "setresuid", "getcwd", "readlink",
                                     "readlinkat", "mkdirat", "unlinkat", "faccessat", "execve",
                                     "exit_group", "capset", "setgroups", "setfsuid")}
AT_FDCWD = -100


@pytest.fixture(scope="session")
def svlib():
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found: cannot build the evaluator")
    d = tempfile.mkdtemp(prefix="sysvisor-svlib-", dir="/tmp")
    os.chmod(d, 0o755)
    try:
        path = H.build(d)
        yield H.Lib(path), d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def lib(svlib):
    return svlib[0]


def _cstr(s: bytes):
    b = ctypes.create_string_buffer(s)
    return b, ctypes.addressof(b)


def _drain_to(ev, path, **kw):
    w = Writer(path, **kw)
    d = Drainer(w, stderr=io.StringIO())
    d.add(os.getpid(), ev.region)
    d.finish()
    w.close()
    return [r for r in read_records(path)]


def _format(path, *opts):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        sysvisor.cli.main(["format", *opts, path])
    return out.getvalue().splitlines()


class PyOpen(sysvisor.Layer):
    """A Python layer: it cannot be compiled, so its calls cross."""

    def openat(self, call):
        return call.next()


# ---- the evaluator is free-standing ---------------------------------------------------------


def test_evaluator_needs_nothing_from_libc(svlib):
    if shutil.which("nm") is None or shutil.which("ld") is None:
        pytest.skip("binutils (nm, ld) not found")
    assert H.undefined_symbols(svlib[1]) == []


# ---- the blob ----------------------------------------------------------------------------


def _rich_stack(tmp):
    return [Record(os.path.join(tmp, "r.svt"), trace="%file,getpid,write"), PyOpen(),
            Faults([parse_inject("getpid:error=EPERM:when=2+3"),
                    Injection("write", error=errno.EIO, predicates=((arg(0, bits=32) == 9,),),
                              when=When(2, 8, 2), scope="process"),
                    parse_inject("openat:retval=5:delay_exit=1ns:poke_exit=@arg2=00")]),
            Remap([Bind("/data", "/tmp"), Bind("/ro", "/ro", readonly=True)]), FakeRoot()]


def test_blob_layout(tmp_path):
    cs = compile_stack(_rich_stack(str(tmp_path)))
    h = B.header(cs.blob)
    assert h["magic"] == B.MAGIC and h["version"] == 1 and h["total_size"] == len(cs.blob)
    assert h["narches"] == 2 and h["nbinds"] == 2 and h["ngroups"] == len(cs.groups)
    # a counter per syscall and per ABI (x86_64 and i386), as strace counts
    assert h["thread_counters"] == 2 and h["process_counters"] == 2
    assert h["crc"] == zlib.crc32(cs.blob[:124] + bytes(4) + cs.blob[128:])
    # the Python layer (1) and FakeRoot's uncompiled part (4) cross; Record,
    # Faults and Remap do not
    assert sorted(cs.groups) == [(1,), (4,)]
    rep = cs.report["x86_64"]
    assert rep["crossing"]["openat"] == ["PyOpen"]
    assert rep["compiled"]["openat"] == ["Record", "Faults", "Remap"]
    assert rep["crossing"]["newfstatat"] == ["FakeRoot"]
    assert rep["compiled"]["getuid"] == ["FakeRoot"]


def test_valid_blob_is_accepted(lib, tmp_path):
    cs = compile_stack(_rich_stack(str(tmp_path)))
    ev = lib.evaluator(cs.blob)
    assert ev.err == 0, lib.strerror(ev.err)


def _fix_crc(b: bytearray) -> bytes:
    struct.pack_into("<I", b, 124, 0)
    struct.pack_into("<I", b, 124, zlib.crc32(bytes(b)))
    return bytes(b)


def _init_and_poke(ev, blob: bytes) -> int:
    """sv_ctx_init; when it accepts, run every syscall number through the
    evaluator (nothing may crash); the init result."""
    ev.reinit(blob, tame=True)  # a corrupted signal= or delay is made harmless
    if ev.err == 0:
        from sysvisor.compiled import _svring

        _svring.Region(ev.region).close()  # no drainer: a full ring drops, even with "block"
        ev.lib.dll.h_poke_all(ev.ctx, AUDIT, ev.pending)
        ev.lib.dll.h_poke_all(ev.ctx, 0x40000003, ev.pending)
    return ev.err


def _fuzz(lib, good: bytes, seed: int):
    """In a child: every corruption is refused or harmless, never a crash."""
    rnd = random.Random(seed)
    ev = lib.evaluator(good)
    results = {"truncated": set(), "magic": None, "version": None, "crc": set(), "fixed": set()}
    for n in (0, 7, 64, 127, 128, 129, len(good) // 2, len(good) - 8, len(good) - 1):
        results["truncated"].add(_init_and_poke(ev, good[:n]))
    b = bytearray(good)
    b[0] ^= 0xFF
    results["magic"] = _init_and_poke(ev, bytes(b))
    b = bytearray(good)
    struct.pack_into("<H", b, 8, 2)
    results["version"] = _init_and_poke(ev, _fix_crc(b))
    for _ in range(200):  # a flipped bit: the checksum says so
        b = bytearray(good)
        b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        results["crc"].add(_init_and_poke(ev, bytes(b)))
    # bytes changed, checksum fixed: the structure checks (the header's, and a
    # third of the others)
    for i in list(range(124)) + list(range(128 + seed % 3, len(good), 3)):
        b = bytearray(good)
        b[i] = (b[i] + rnd.randrange(1, 256)) & 0xFF
        results["fixed"].add(_init_and_poke(ev, _fix_crc(b)))
    for _ in range(100):  # garbage after a valid header
        b = bytearray(good[:128]) + bytearray(rnd.randbytes(len(good) - 128))
        results["fixed"].add(_init_and_poke(ev, _fix_crc(b)))
    return {k: sorted(v) if isinstance(v, set) else v for k, v in results.items()}


def test_corrupt_blobs_are_refused_never_crash(lib, tmp_path):
    cs = compile_stack(_rich_stack(str(tmp_path)))
    r = run_as("user", _fuzz, lib, cs.blob, 7, timeout=120)
    assert all(e < 0 for e in r["truncated"])
    assert r["magic"] == -1 and r["version"] == -1  # SV_EBLOB
    assert set(r["crc"]) == {-2} or set(r["crc"]) == {-1, -2}  # ECRC (EBLOB: the magic's bits)
    # structural corruption: offsets out of bounds (-3) and values out of
    # range (-4) are refused, and so are sizes the region (made for the
    # intact blob) cannot hold (-5); changes of padding are accepted and harmless
    assert -3 in r["fixed"] and -4 in r["fixed"]
    assert set(r["fixed"]) <= {0, -1, -3, -4, -5}


def test_out_of_range_fields_are_refused(lib):
    prog = B.Program(arches={AUDIT: {39: B.Entry((B.Inject(error=1),))}})
    ok = B.pack(prog)
    assert lib.evaluator(ok).err == 0
    bad = {
        "errno 5000": B.Program(arches={AUDIT: {39: B.Entry((B.Inject(error=5000),))}}),
        "group beyond ngroups": B.Program(arches={AUDIT: {39: B.Entry((B.Cross(3),))}}, ngroups=1),
        "argument 9": B.Program(arches={AUDIT: {39: B.Entry((B.RemapPaths(((9, -1, 0, 0),)),))}}),
        "counter beyond counters": B.Program(arches={AUDIT: {39: B.Entry((B.Inject(
            error=1, when=(1, 0, 1), counter=3),))}}, thread_counters=1, thread_slots=4),
        "two traces": B.Program(arches={AUDIT: {39: B.Entry((B.Trace(), B.Trace()))}}),
        "ids without an ids block": B.Program(arches={AUDIT: {39: B.Entry((B.Ids(B.ID_GET),))}}),
    }
    for what, prog in bad.items():
        assert lib.evaluator(B.pack(prog)).err == -4, what  # SV_EVALUE


def test_blob_limits_are_clear_errors():
    with pytest.raises(B.BlobError, match="actions for one syscall"):
        B.pack(B.Program(arches={AUDIT: {39: B.Entry(tuple(B.Inject(error=1) for _ in range(33)))}}))
    with pytest.raises(B.BlobError, match="beyond"):
        B.pack(B.Program(arches={AUDIT: {5000: B.Entry()}}))
    with pytest.raises(UsageError, match="ring policy"):
        compile_stack([], options=Options(ring="sometimes"))
    with pytest.raises(UsageError, match="uncapturable"):
        compile_stack([], options=Options(uncapturable="maybe"))


# ---- injection ------------------------------------------------------------------------------


def _hits(lib, layers, nthreads, n, nr=NR["getpid"], options=None):
    cs = compile_stack(layers, options=options)
    ev = lib.evaluator(cs.blob)
    assert ev.err == 0
    hits = ctypes.create_string_buffer(nthreads * n)
    assert ev.threads(nr, nthreads, n, hits) == nthreads
    return [list(hits.raw[t * n:(t + 1) * n]) for t in range(nthreads)], ev


def test_when_counts_per_thread_like_strace(lib):
    rows, _ = _hits(lib, [Faults([parse_inject("getpid:error=EPERM:when=2..6+2")])], 8, 10)
    for row in rows:  # every thread from zero: invocations 2, 4 and 6
        assert row == [0, 1, 0, 1, 0, 1, 0, 0, 0, 0]


@pytest.mark.parametrize("expr", ["1", "3", "2..4", "3+", "2+3", "2..8+3", "2..9+", "1..1"])
def test_when_decides_like_the_python_layer(lib, expr):
    rows, _ = _hits(lib, [Faults([parse_inject(f"getpid:retval=1:when={expr}")])], 1, 20)
    assert rows[0] == [int(When.parse(expr).matches(n)) for n in range(1, 21)]


def test_when_counts_per_process_with_atomics(lib):
    rows, _ = _hits(lib, [Faults([Injection("getpid", error=1, when=When(5, 0, 0), scope="process")])],
                    8, 50)
    assert sum(map(sum, rows)) == 1  # exactly one call of the 400, whichever thread made it
    rows, _ = _hits(lib, [Faults([Injection("getpid", error=1, when=When(3, 0, 1), scope="process")])],
                    8, 50)
    assert sum(map(sum, rows)) == 400 - 2


def test_thread_table_overflow_is_counted(lib):
    from sysvisor.compiled import _svring

    rows, ev = _hits(lib, [Faults([parse_inject("getpid:error=EPERM:when=1")])], 12, 3,
                     options=Options(thread_slots=4))
    st = _svring.Region(ev.region).stats()
    assert st["thread_overflow"] > 0  # 8 threads shared one counter: said, not hidden
    assert sum(r[0] for r in rows) >= 4  # the threads with a slot of their own


def test_errno_retval_predicates(lib):
    f = Faults([Injection("write", error=errno.EIO, predicates=((arg(0, bits=32) == 2,),)),
                parse_inject("getpid:retval=42")])
    ev = lib.evaluator(compile_stack([f]).blob)
    assert ev.call(NR["write"], (2, 0, 0))[:2] == (H.SV_RETURN, -errno.EIO)
    assert ev.call(NR["write"], (0x100000002, 0, 0))[:2] == (H.SV_RETURN, -errno.EIO)  # bits=32
    assert ev.call(NR["write"], (1, 0, 0))[0] == H.SV_RUN
    assert ev.call(NR["getpid"])[:2] == (H.SV_RETURN, 42)


def test_signal_poke_and_substitution(lib, priv):
    def fn():
        got = []
        signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
        f = Faults([parse_inject("getpid:signal=SIGUSR1:when=2"),
                    parse_inject("write:poke_enter=@arg2=4849:error=EIO"),
                    parse_inject("getppid:syscall=getpid:retval=7")])
        ev = lib.evaluator(compile_stack([f]).blob)
        ev.call(NR["getpid"], run_real=True)
        ev.call(NR["getpid"], run_real=True)
        buf, p = _cstr(b"hello")
        v, r, _c, _ = ev.call(NR["write"], (1, p, 5))
        v2, r2, c2, _ = ev.call(X86.by_name["getppid"].nr, run_real=True)
        return got, buf.value, (v, r), (v2, r2, c2.nr)
    got, data, w, sub = run_as(priv, fn)
    assert got == [1]  # the second getpid only
    assert data == b"HIllo" and w == (H.SV_RETURN, -errno.EIO)
    # getpid ran instead of getppid, and its result was replaced at exit
    assert sub == (H.SV_RUN, 7, NR["getpid"])


# ---- path remapping, with real calls ------------------------------------------------------------


@pytest.fixture
def world(tmp_world):
    for d in ("store", "store/dir", "other", "ro"):
        os.mkdir(os.path.join(tmp_world, d))
        os.chmod(os.path.join(tmp_world, d), 0o777)
    for rel, text in (("store/file", b"in store\n"), ("other/x", b"in other\n"), ("ro/f", b"ro\n")):
        with open(os.path.join(tmp_world, rel), "wb") as f:
            f.write(text)
        os.chmod(os.path.join(tmp_world, rel), 0o666)
    os.symlink(f"{tmp_world}/store/dir", os.path.join(tmp_world, "store", "abs"))
    return tmp_world


PENDING = {"full": H.SV_PENDING_SIZE, "small": H.SV_PENDING_MIN}


@pytest.fixture(params=sorted(PENDING))
def pending(request):
    """The shim's pending area: everything in it, or the minimum (the big
    buffers then live in the thread's slot of the region)."""
    return PENDING[request.param]


def _remap_session(lib, world, pending=H.SV_PENDING_SIZE):
    binds = [Bind("/data", f"{world}/store"), Bind("/data/sub", f"{world}/other"),
             Bind("/rodata", f"{world}/ro", readonly=True)]
    ev = lib.evaluator(compile_stack([Remap(binds)]).blob, pending=pending)
    assert ev.err == 0
    out = {}

    def opened(path, flags=os.O_RDONLY, dfd=AT_FDCWD):
        buf, p = _cstr(path)
        v, fd, c, _ = ev.call(NR["openat"], (dfd, p, flags), run_real=True)
        if fd < 0:
            return -fd
        data = os.read(fd, 100)
        os.close(fd)
        return data

    out["abs"] = opened(b"/data/file")
    out["nested"] = opened(b"/data/sub/x")
    out["dotdot"] = opened(b"/data/sub/../file")
    os.chdir(f"{world}/store/dir")
    out["rel_dotdot"] = opened(b"../sub/x")
    d = os.open(f"{world}/other", os.O_RDONLY)
    out["dirfd"] = opened(b"../file", dfd=d)
    out["ro_read"] = opened(b"/rodata/f")
    out["ro_write"] = opened(b"/rodata/f", os.O_WRONLY)
    out["ro_create"] = opened(b"/rodata/new", os.O_WRONLY | os.O_CREAT)
    out["ro_create_existing"] = opened(b"/rodata/f", os.O_RDONLY | os.O_CREAT)
    buf, p = _cstr(b"/rodata/d")
    out["ro_mkdir"] = ev.call(NR["mkdirat"], (AT_FDCWD, p, 0o755), run_real=True)[1]
    buf, p = _cstr(b"/rodata/f")
    out["ro_access_w"] = ev.call(NR["faccessat"], (AT_FDCWD, p, os.W_OK), run_real=True)[1]
    out["ro_access_r"] = ev.call(NR["faccessat"], (AT_FDCWD, p, os.R_OK), run_real=True)[1]
    cwd = ctypes.create_string_buffer(4096)
    n = ev.call(NR["getcwd"], (ctypes.addressof(cwd), 4096), run_real=True)[1]
    out["getcwd"] = (n, cwd.value)
    small = ctypes.create_string_buffer(len(f"{world}/store/dir") + 1)
    out["getcwd_small"] = ev.call(NR["getcwd"], (ctypes.addressof(small), len(small)), run_real=True)[1]
    lbuf = ctypes.create_string_buffer(4096)
    lp, lpa = _cstr(b"/data/abs")
    n = ev.call(NR["readlinkat"], (AT_FDCWD, lpa, ctypes.addressof(lbuf), 4096), run_real=True)[1]
    out["readlink"] = lbuf.raw[:n]
    sp, spa = _cstr(b"/proc/self/cwd")
    n = ev.call(NR["readlink"], (spa, ctypes.addressof(lbuf), 4096), run_real=True)[1]
    out["proc_cwd"] = lbuf.raw[:n]
    # the argument points into the pending area only for the call: unmapped paths stay
    plain, pp = _cstr(b"/etc/hostname")
    out["untouched"] = ev.call(NR["openat"], (AT_FDCWD, pp, 0))[2].args[1] == pp
    return out


def test_remap_in_the_evaluator(lib, world, priv, pending):
    out = run_as(priv, _remap_session, lib, world, pending)
    assert out["abs"] == b"in store\n" and out["nested"] == b"in other\n"
    assert out["dotdot"] == b"in store\n" and out["rel_dotdot"] == b"in other\n"
    assert out["dirfd"] == b"in store\n"
    assert out["ro_read"] == b"ro\n" and out["ro_create_existing"] == b"ro\n"
    assert out["ro_write"] == out["ro_create"] == errno.EROFS
    assert out["ro_mkdir"] == out["ro_access_w"] == -errno.EROFS and out["ro_access_r"] == 0
    assert out["getcwd"] == (len(b"/data/dir") + 1, b"/data/dir")
    assert out["getcwd_small"] == len(b"/data/dir") + 1  # the guest path is shorter: it fits
    assert out["readlink"] == b"/data/dir" and out["proc_cwd"] == b"/data/dir"
    assert out["untouched"]
    assert sorted(os.listdir(os.path.join(world, "ro"))) == ["f"]


def test_remap_agrees_with_the_python_layer(world):
    """The same path decisions from the evaluator and from layers/remap.py."""
    from sysvisor.layers import remap as R

    binds = [Bind("/data", f"{world}/store"), Bind("/data/sub", f"{world}/other")]
    table_ = R.BindTable(binds)
    for guest in (b"/data", b"/data/", b"/data/sub/x/", b"/database", b"/data/sub/../dir", b"/"):
        host, _ro = table_.to_host(R.normalize(guest))
        assert R.normalize(guest).startswith(b"/")
        assert table_.to_guest(host) == R.normalize(guest)


# ---- fakeroot's identity ------------------------------------------------------------------------


def test_fakeroot_ids_and_fork(lib):
    cs = compile_stack([FakeRoot()])
    ev = lib.evaluator(cs.blob)
    call = lambda n, *a: ev.call(NR[n], a)[:2]  # noqa: E731
    assert call("getuid") == (H.SV_RETURN, 0) and call("geteuid") == (H.SV_RETURN, 0)
    assert call("setuid", 1000) == (H.SV_RETURN, 0)  # effective 0: all of them change
    assert call("getuid") == (H.SV_RETURN, 1000) and call("geteuid") == (H.SV_RETURN, 1000)
    assert call("setresuid", 0xFFFFFFFF, 7, 0xFFFFFFFF) == (H.SV_RETURN, 0)
    ids = (ctypes.c_uint * 3)()
    a = ctypes.addressof(ids)
    assert call("getresuid", a, a + 4, a + 8) == (H.SV_RETURN, 0)
    assert list(ids) == [1000, 7, 1000]
    assert call("getresuid", 0, a, a) == (H.SV_RETURN, -errno.EFAULT)  # a bad pointer: no crash
    assert call("setfsuid", 5) == (H.SV_RETURN, 7)  # the previous fsuid: the euid setresuid set
    assert call("setgroups", 0, 0) == (H.SV_RETURN, 0)
    assert ev.call(NR["capset"], (0, 0), ret=-errno.EPERM)[:2] == (H.SV_RUN, 0)  # run, reported ok
    # a fork child's region starts with the parent's identity
    child = H.Evaluator.__new__(H.Evaluator)
    child.lib, child.blob, child.blob_len, child.pending = lib, ev.blob, ev.blob_len, ev.pending
    import mmap

    child.region = mmap.mmap(-1, ev.region_size)
    child.region_size = ev.region_size
    child.ctx = ctypes.create_string_buffer(H.SV_CTX_SIZE)
    assert lib.dll.sv_ctx_fork(child.ctx, H.SV_CTX_SIZE, ev.ctx, H._addr(child.region),
                               ev.region_size) == 0
    assert child.call(NR["geteuid"])[:2] == (H.SV_RETURN, 7)
    assert child.call(NR["setuid"], (1,))[1] == 0
    assert child.call(NR["geteuid"])[1] == 1 and ev.call(NR["geteuid"])[1] == 7  # separate


# ---- stack order ----------------------------------------------------------------------------------


def test_python_layer_above_compiled_crosses_first(lib):
    cs = compile_stack([PyOpen(), Faults([parse_inject("openat:error=ENOENT")])])
    assert cs.groups == [(0,)]
    ev = lib.evaluator(cs.blob)
    s = ev.steps()
    s.make(NR["openat"], (AT_FDCWD, 0, 0))
    assert s.entry() == H.SV_SUPERVISOR and s.group() == 0
    assert s.resume(H.SV_RUN) == H.SV_RETURN and s.ret.value == -errno.ENOENT  # then the fault
    s.make(NR["openat"], (AT_FDCWD, 0, 0))
    assert s.entry() == H.SV_SUPERVISOR
    s.ret.value = 5
    assert s.resume(H.SV_RETURN) == H.SV_RETURN and s.ret.value == 5  # Python answered: no fault
    assert s.exit() == H.SV_RUN and s.ret.value == 5


def test_compiled_layer_above_python_decides_first(lib):
    cs = compile_stack([Faults([parse_inject("openat:error=ENOENT:when=2")]), PyOpen()])
    ev = lib.evaluator(cs.blob)
    assert ev.call(NR["openat"], (AT_FDCWD, 0, 0))[3] == 1  # 1st: no fault, it crosses
    v, r, _c, crossings = ev.call(NR["openat"], (AT_FDCWD, 0, 0))
    assert (v, r, crossings) == (H.SV_RETURN, -errno.ENOENT, 0)  # 2nd: decided, never crossed


def test_adjacent_python_layers_cross_once(lib):
    class P2(sysvisor.Layer):
        def openat(self, call):
            return call.next()

    cs = compile_stack([PyOpen(), P2(), Faults([parse_inject("getpid:error=EPERM")])])
    assert cs.groups == [(0, 1)]
    chain = cs.chain(X86, NR["openat"], 0)
    assert [type(l).__name__ for l, _fn, _a in chain] == ["PyOpen", "P2"]


def test_exit_hooks_cross_in_their_place(lib, tmp_path):
    w = Writer(str(tmp_path / "x.svt"))
    cs = compile_stack([Record(w, trace="openat"), PyOpen()])
    ev = lib.evaluator(cs.blob)
    s = ev.steps()
    path, p = _cstr(b"/etc/hostname")
    s.make(NR["openat"], (AT_FDCWD, p, 0))
    assert s.entry() == H.SV_SUPERVISOR
    assert s.resume(H.SV_RUN, H.SV_F_EXIT_HOOKS | H.SV_F_INJECTED) == H.SV_RUN
    assert s.exit(3) == H.SV_SUPERVISOR and s.group() == 0  # the Python exit hook, below the trace
    s.ret.value = 9  # it changed the result
    assert s.exit() == H.SV_RUN
    d = Drainer(w, stderr=io.StringIO())
    d.add(os.getpid(), ev.region)
    d.finish()
    w.close()
    recs = [r for r in read_records(str(tmp_path / "x.svt")) if r.type == SYSCALL]
    assert len(recs) == 1 and recs[0].retval == 9
    assert _format(str(tmp_path / "x.svt")) == [
        'openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = 9 (INJECTED)']


def test_args_changed_in_python_reach_compiled_layers_below(lib, world):
    cs = compile_stack([PyOpen(), Remap([Bind("/data", f"{world}/store")])])
    ev = lib.evaluator(cs.blob)
    s = ev.steps()
    old, po = _cstr(b"/nowhere")
    new, pn = _cstr(b"/data/file")
    s.make(NR["openat"], (AT_FDCWD, po, 0))
    assert s.entry() == H.SV_SUPERVISOR
    s.c.args[1] = pn  # what call.set_arg(1, ...) did in the supervisor
    assert s.resume(H.SV_RUN) == H.SV_RUN
    target = ctypes.string_at(s.c.args[1])
    assert target == f"{world}/store/file".encode()


# ---- trace records: the same lines as the live tracer -------------------------------------------


def _replay(lib, recorded: str, replayed: str, pending=H.SV_PENDING_SIZE):
    """Feed the calls of a recorded trace (nr, args, the memory the decoders
    read at entry and at exit) through the evaluator's compiled Record
    layer; its ring is drained into `replayed`. Returns the partial set."""
    w = Writer(replayed)
    cs = compile_stack([Record(w)])
    ev = lib.evaluator(cs.blob, ring_bytes=4 << 20, pending=pending)
    d = Drainer(w, stderr=io.StringIO())
    d.add(os.getpid(), ev.region)
    for rec in read_records(recorded):
        if rec.type != SYSCALL:
            continue
        pays = [p for p in rec.payloads if p.kind in (BUFFER, STRING, STRUCT)]
        spans = sorted((p.addr, p.addr + max(p.size, len(p.data)) + 16) for p in pays)
        merged: list = []
        for a, b in spans:  # memory the decoders read in pieces is one piece
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        bufs = [(a, ctypes.create_string_buffer(b - a)) for a, b in merged]

        def where(addr):
            return next(ctypes.addressof(buf) + addr - a for a, buf in bufs if a <= addr < a + len(buf))
        moved = {p.addr: where(p.addr) for p in pays}

        def fill(phase):
            for p in pays:
                if p.phase != phase:
                    continue
                data = bytearray(p.data)
                if p.kind == STRING:
                    data += b"\0" if p.complete else b"x\0"
                for off in range(0, len(data) - 7, 8):  # pointers in arrays (argv)
                    v = int.from_bytes(data[off:off + 8], "little")
                    if v in moved:
                        data[off:off + 8] = moved[v].to_bytes(8, "little")
                ctypes.memmove(moved[p.addr], bytes(data), len(data))
        fill(ENTRY)
        s = ev.steps()
        c = s.make(rec.nr, [moved.get(a, a) for a in rec.args], rec.arch)
        c.pid, c.tid, c.ip, c.sp = rec.pid, rec.tid, rec.ip, rec.sp
        s.entry()
        if rec.flags & NO_EXIT:
            continue  # exit_group: written at entry
        fill(EXIT_PHASE)
        s.exit(rec.retval)
        d.drain()
    d.finish()
    w.close()
    return set(cs.report["x86_64"].get("partial", {}))


def _live_and_replayed(lib, argv, workdir, pending=H.SV_PENDING_SIZE):
    live = os.path.join(workdir, "live.txt")
    rec = os.path.join(workdir, "a.svt")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env, LANG="C")
    null = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1)
    os.dup2(null, 1)
    try:
        st = sysvisor.cli.main(["trace", "--method", "ptrace", "-o", live, "--record", rec, "--", *argv])
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
        os.environ.clear()
        os.environ.update(old)
    partial = _replay(lib, rec, os.path.join(workdir, "b.svt"), pending)
    truncated = {r.name for r in read_records(os.path.join(workdir, "b.svt"))
                 if r.type == SYSCALL and r.flags & TRUNCATED}
    lines = [ln for ln in open(live).read().splitlines() if not ln.startswith(("+++", "---"))]
    return st, lines, _format(os.path.join(workdir, "b.svt")), partial | truncated


@pytest.mark.parametrize("argv", [["ls", "-l", "/etc/default"],
                                  ["sh", "-c", "cat /etc/hostname | wc -c; echo x > f; pwd; "
                                               "readlink /proc/self/exe; test -w f"]],
                         ids=["ls", "sh"])
def test_replayed_records_format_like_the_live_trace(lib, priv, argv, tmp_world, pending):
    st, live, replayed, partial = run_as(priv, _live_and_replayed, lib, argv, tmp_world, pending)
    assert st == 0 and len(live) > 40 and len(live) == len(replayed)
    norm = lambda s: re.sub(r"0x[0-9a-f]+", "0xADDR", s)  # noqa: E731 - the replay's own buffers
    differ = [(a, b) for a, b in zip(live, replayed) if norm(a) != norm(b)]
    # only the syscalls the compiler said it cannot capture may differ
    assert all(b.split("(")[0] in partial for a, b in differ), differ
    assert len(differ) < 5


def test_capture_coverage_of_common_syscalls():
    from sysvisor.decode import Options

    missing = coverage()
    for name in ("openat", "read", "write", "close", "execve", "newfstatat", "fstat", "statx",
                 "getcwd", "readlink", "access", "mmap", "brk", "pipe2", "wait4", "rt_sigaction",
                 "rt_sigprocmask", "clock_gettime", "getdents64", "connect", "uname", "getrandom"):
        assert name not in missing, (name, missing.get(name))
    ops, miss = syscall_ops(X86, NR["execve"], Options(strsize=256))
    assert not miss and [o.op for o in ops] == [1, 4, 5]  # path, argv with strings, envp count
    assert "sendmsg" in missing  # a msghdr's iovecs: not a fixed struct


def test_uncapturable_can_cross_instead(tmp_path):
    opts = Options(uncapturable="cross")
    cs = compile_stack([Record(str(tmp_path / "r.svt"), trace="sendmsg,write")], options=opts)
    rep = cs.report["x86_64"]
    assert rep["crossing"]["sendmsg"] == ["Record"] and rep["compiled"]["write"] == ["Record"]
    assert "sendmsg" in rep["partial"]


# ---- the shim's interface as merged on main (native/svpolicy_shim.c) ---------------------------


def test_shim_adapter(svlib, tmp_path, pending):
    import mmap

    lib, d = svlib
    shim = ctypes.CDLL(H.build_shim_adapter(d, pending))
    vp = ctypes.c_void_p
    shim.sv_eval_region_size.argtypes = [vp, ctypes.c_size_t]
    shim.sv_eval_region_size.restype = ctypes.c_size_t
    shim.sv_eval_region_init.argtypes = [ctypes.POINTER(H.ShimCtx), ctypes.c_int]
    shim.sv_entry.argtypes = [ctypes.POINTER(H.ShimCtx), ctypes.POINTER(H.SvCall),
                              ctypes.POINTER(ctypes.c_long), vp]
    shim.sv_exit_result.argtypes = [ctypes.POINTER(H.ShimCtx), ctypes.POINTER(H.SvCall), ctypes.c_long, vp]
    shim.sv_exit_result.restype = ctypes.c_long
    shim.sv_eval_ids.argtypes = [ctypes.POINTER(H.ShimCtx), vp]
    shim.sv_eval_set_ids.argtypes = [ctypes.POINTER(H.ShimCtx), vp]
    out = str(tmp_path / "t.svt")
    w = Writer(out)
    layers = [Record(w, trace="getpid,openat,getcwd"), Faults([parse_inject("getpid:error=EPERM")]),
              PyOpen(), Remap([Bind("/data", str(tmp_path))]), FakeRoot()]
    blob = compile_stack(layers).blob
    bbuf = ctypes.create_string_buffer(blob, len(blob))
    size = shim.sv_eval_region_size(bbuf, len(blob))
    assert size > 4096
    area = mmap.mmap(-1, size)
    ctx = H.ShimCtx(ctypes.cast(lib.dll.h_raw, vp).value, ctypes.addressof(bbuf), len(blob),
                    H._addr(area), size)
    shim.sv_eval_region_init(ctypes.byref(ctx), 1)  # SV_KIND_START
    pending = ctypes.create_string_buffer(pending)  # what the shim would give

    def call(nr, args=(), run=False):
        c = H.SvCall(nr, (ctypes.c_ulong * 6)(*args, *[0] * (6 - len(args))), 0, 0, os.getpid(),
                     os.getpid(), AUDIT)
        r = ctypes.c_long(0)
        v = shim.sv_entry(ctypes.byref(ctx), ctypes.byref(c), ctypes.byref(r), pending)
        if v == H.SV_RUN and run:
            r.value = shim.sv_exit_result(ctypes.byref(ctx), ctypes.byref(c), lib.dll.h_syscall(c), pending)
        return v, r.value

    assert call(NR["getpid"]) == (H.SV_RETURN, -errno.EPERM)  # answered: its record is written now
    assert call(NR["openat"], (AT_FDCWD, 0, 0))[0] == H.SV_SUPERVISOR  # PyOpen: all of it in Python
    assert call(NR["getuid"]) == (H.SV_RETURN, 0)
    os.chdir(str(tmp_path))
    cwd = ctypes.create_string_buffer(4096)
    assert call(NR["getcwd"], (ctypes.addressof(cwd), 4096), run=True) == (H.SV_RUN, 6)
    assert cwd.value == b"/data"  # mapped back: sv_exit_result returned the guest length
    # the supervisor drains the ring at eval_off + 4096
    dr = Drainer(w, stderr=io.StringIO())
    dr.add(os.getpid(), memoryview(area)[4096:])
    dr.finish()
    w.close()
    assert [ln.split("(")[0] for ln in _format(out)] == ["getpid", "getcwd"]
    assert _format(out)[0].endswith("= -1 EPERM (Operation not permitted) (INJECTED)")
    # a fork child (or an exec'd image): a fresh area, then the identity the
    # shim saved from the former one (sv_eval_ids -> sv_eval_set_ids)
    assert call(NR["setuid"], (5,)) == (H.SV_RETURN, 0)
    ids = (ctypes.c_uint32 * 8)()
    assert shim.sv_eval_ids(ctypes.byref(ctx), ids) == 1 and ids[1] == 5
    child = mmap.mmap(-1, size)
    cctx = H.ShimCtx(ctx.raw_syscall, ctx.blob, ctx.blob_len, H._addr(child), size)
    shim.sv_eval_region_init(ctypes.byref(cctx), 3)  # SV_KIND_FORK
    shim.sv_eval_set_ids(ctypes.byref(cctx), ids)
    from sysvisor.compiled import _svring

    st = _svring.Region(memoryview(child)[4096:]).stats()
    assert st["head"] == 0 and st["written"] == 0
    c = H.SvCall(NR["getuid"], (ctypes.c_ulong * 6)(), 0, 0, os.getpid(), os.getpid(), AUDIT)
    r = ctypes.c_long(0)
    assert shim.sv_entry(ctypes.byref(cctx), ctypes.byref(c), ctypes.byref(r), pending) == H.SV_RETURN
    assert r.value == 5


def test_small_pending_areas_use_the_threads_levels(lib, tmp_path):
    """With a minimal pending area, a thread has SV_SCRATCH_LEVELS calls in
    flight with buffers (a call in a signal handler during a call); one more
    is refused cleanly, and the levels come back when the calls end."""
    w = Writer(str(tmp_path / "t.svt"))
    cs = compile_stack([Record(w, trace="openat"), Remap([Bind("/data", str(tmp_path))])])
    ev = lib.evaluator(cs.blob, pending=H.SV_PENDING_MIN)
    path, p = _cstr(b"/data/x")
    steps = [ev.steps() for _ in range(3)]
    for s in steps:
        s.make(NR["openat"], (AT_FDCWD, p, 0))
    assert steps[0].entry() == H.SV_RUN and steps[1].entry() == H.SV_RUN
    assert ctypes.string_at(steps[1].c.args[1]) == f"{tmp_path}/x".encode()
    assert steps[0].c.args[1] != steps[1].c.args[1]  # each level its own buffer
    # the third: no buffer left for its new path (nor its payloads)
    assert steps[2].entry() == H.SV_RETURN and steps[2].ret.value == -errno.ENOMEM
    for s in reversed(steps):
        s.exit(-errno.ENOENT if s is not steps[2] else None)
    again = ev.steps()
    again.make(NR["openat"], (AT_FDCWD, p, 0))
    assert again.entry() == H.SV_RUN  # the levels were given back
    again.exit(-errno.ENOENT)
    d = Drainer(w, stderr=io.StringIO())
    d.add(os.getpid(), ev.region)
    d.finish()
    w.close()
    recs = [r for r in read_records(str(tmp_path / "t.svt")) if r.type == SYSCALL]
    assert len(recs) == 4  # written at exit, innermost first
    assert [bool(r.flags & TRUNCATED) for r in recs] == [True, False, False, False]
    assert [len(r.payloads) for r in recs] == [0, 1, 1, 1]
