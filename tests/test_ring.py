"""The trace ring (native/svring.c): many producer threads in the program,
one consumer in the supervisor (sysvisor.compiled.drain), the record
format of `sysvisor trace --record` in the file; full rings under both
policies, producers that die mid-record, and a stress test."""
from __future__ import annotations

import collections
import contextlib
import io
import os
import signal
import struct
import threading
import time

import pytest

import sysvisor.cli
from sysvisor.compiled import Options, _svring, compile_stack
from sysvisor.compiled.drain import Drainer, tsc_calibration
from sysvisor.layers.record import Record
from sysvisor.record.format import LOST, NO_EXIT, SYSCALL, Reader, Writer
from sysvisor.tables import native_arch, table
from conftest import run_as
from test_compiled import svlib  # noqa: F401 - the fixture
import svharness as H

pytestmark = pytest.mark.skipif(native_arch() != "x86_64",
                                reason="the tests' syscall numbers are x86_64's")
X86 = table("x86_64")
AUDIT = X86.audit_arch
GETPID, OPENAT, EXECVE = (X86.by_name[n].nr for n in ("getpid", "openat", "execve"))
SLOT = _svring.SLOT


@pytest.fixture
def lib(svlib):  # noqa: F811
    return svlib[0]


def _blob(ring="block", trace="getpid,openat,execve,exit_group"):
    return compile_stack([Record(Writer("/dev/null"), trace=trace)], options=Options(ring=ring)).blob


def _format(path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        sysvisor.cli.main(["format", path])
    return out.getvalue().splitlines()


class CheckingSink:
    """A Writer look-alike for the drainer that checks the records instead of
    storing them: sequence numbers, and each thread's calls in order (the
    harness puts the call's index in args[0] and the thread's in args[1])."""

    def __init__(self):
        self.seq = 0
        self.next = collections.defaultdict(int)
        self.bad = []
        self.lost = []

    _PLAIN = struct.Struct("<8xQ56xQQ72x")  # seq, args[0], args[1] of a record without payloads

    def add_sequenced(self, produce):
        data, n = produce(self.seq)
        if len(data) == n * 160:  # no payloads: the fast way
            nxt, first = self.next, self.seq
            for k, (seq, a0, a1) in enumerate(self._PLAIN.iter_unpack(data)):
                if seq != first + k or nxt[a1] != a0:
                    self.bad.append((seq, a1, a0))
                nxt[a1] = a0 + 1
            self.seq += n
            return n
        off = 0
        for k in range(n):
            seq, = struct.unpack_from("<Q", data, off + 8)
            a0, a1 = struct.unpack_from("<QQ", data, off + 72)
            if seq != self.seq + k or self.next[a1] != a0:
                self.bad.append((seq, a1, a0))
            self.next[a1] = a0 + 1
            off += 160 + struct.unpack_from("<I", data, off + 144)[0]
        self.seq += n
        return n

    def add(self, rtype, **kw):
        self.lost.append(kw["args"])

    def add_packed(self, rec):
        self.seq += 1

    def flush(self):
        pass


# ---- full rings ----------------------------------------------------------------------------


def test_drop_policy_counts_every_lost_record(lib, tmp_path):
    ev = lib.evaluator(_blob("drop"), ring_bytes=256 * SLOT)
    region = _svring.Region(ev.region)
    nslots = region.stats()["nslots"]
    assert nslots == 256
    path, p = H.ctypes.create_string_buffer(b"/etc/hostname"), None
    p = H.ctypes.addressof(path)
    # getpid: 160 bytes (3 slots); openat with its path: 200 bytes (4 slots)
    used = kept = dropped = dropped_bytes = 0
    for i in range(120):
        if i % 3:
            ev.call(GETPID)
            k, size = 3, 160
        else:
            ev.call(OPENAT, (-100, p, 0), ret=3)
            k, size = 4, 200
        if used + k <= nslots:
            used, kept = used + k, kept + 1
        else:
            dropped, dropped_bytes = dropped + 1, dropped_bytes + size
    st = region.stats()
    assert (st["written"], st["dropped"], st["dropped_bytes"]) == (kept, dropped, dropped_bytes)
    out = str(tmp_path / "t.svt")
    w = Writer(out)
    err = io.StringIO()
    d = Drainer(w, stderr=err)
    d.add(os.getpid(), ev.region)
    assert d.drain() == kept
    assert d.finish() == {"ring full": dropped, "died while writing": 0, "too big for the ring": 0}
    w.close()
    recs = list(Reader(out))
    assert sum(r.type == SYSCALL for r in recs) == kept
    lost = [r for r in recs if r.type == LOST]
    assert len(lost) == 1 and lost[0].args[:4] == (dropped, dropped_bytes, 0, 0)
    assert err.getvalue() == f"sysvisor: {dropped} trace records lost (ring full: {dropped})\n"
    assert _format(out)[-1] == f"--- sysvisor: {dropped} records lost (ring full: {dropped}) ---"


def _producer(lib, ev, n):
    t = threading.Thread(target=ev.threads, args=(GETPID, 1, n))
    t.start()
    return t


def _wait_for(cond, what):
    for _ in range(2000):
        if cond():
            return
        time.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}")


def test_block_policy_waits_for_room(lib):
    ev = lib.evaluator(_blob("block"), ring_bytes=256 * SLOT)
    region = _svring.Region(ev.region)
    t = _producer(lib, ev, 1000)
    _wait_for(lambda: region.stats()["blocked"] >= 1, "the producer to block on the full ring")
    sink = CheckingSink()
    d = Drainer(sink, stderr=io.StringIO())
    d.add(os.getpid(), ev.region)
    while t.is_alive():
        d.drain()
        time.sleep(0.001)
    t.join()
    d.finish()
    assert sink.seq == 1000 and not sink.bad and not sink.lost
    assert region.stats()["dropped"] == 0


def test_closing_the_ring_releases_blocked_producers(lib):
    ev = lib.evaluator(_blob("block"), ring_bytes=256 * SLOT)
    region = _svring.Region(ev.region)
    t = _producer(lib, ev, 500)
    _wait_for(lambda: region.stats()["blocked"] >= 1, "the producer to block")
    region.close()  # the supervisor goes: the program must not hang
    t.join(timeout=30)
    assert not t.is_alive()
    st = region.stats()
    assert st["written"] == 256 // 3 and st["dropped"] == 500 - 256 // 3


# ---- a producer that dies mid-record -------------------------------------------------------


def test_dead_producer_leaves_no_corrupt_record(lib, priv, tmp_world):
    def fn(workdir):
        ev = lib.evaluator(_blob("drop"))
        pid = os.fork()
        if pid == 0:
            for _ in range(5):
                ev.call(GETPID)
            lib.dll.h_die_mid_record(H._addr(ev.region), ev.region_size, 3)
            os._exit(1)  # not reached: killed
        _, status = os.waitpid(pid, 0)
        for _ in range(2):  # the parent goes on, after the dead claim
            ev.call(GETPID)
        out = os.path.join(workdir, "t.svt")
        w = Writer(out)
        err = io.StringIO()
        d = Drainer(w, stderr=err)
        d.add(pid, ev.region)
        live = d.drain()  # the process might still be writing: stop at the gap
        gone = d.remove(pid)  # it is gone: skip the gap, take the rest
        d.finish()
        w.close()
        recs = list(Reader(out))  # every record intact (the reader checks CRCs and seqs)
        return (os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, live, gone,
                [(r.type, r.pid, r.args[:4]) for r in recs], _format(out), err.getvalue())

    sig, live, gone, recs, text, err = run_as(priv, fn, tmp_world)
    assert sig == signal.SIGKILL
    assert (live, gone) == (5, 2)
    assert [t for t, _p, _a in recs] == [SYSCALL] * 5 + [LOST] + [SYSCALL] * 2
    assert recs[5][2] == (0, 0, 1, 0)
    assert "--- sysvisor: 1 record lost (died while writing: 1) ---" in text
    assert err == "sysvisor: 1 trace record lost (died while writing: 1)\n"


# ---- records through the file -----------------------------------------------------------------


def test_threads_records_through_the_file(lib, tmp_path):
    ev = lib.evaluator(_blob("block"), ring_bytes=64 << 10)
    out = str(tmp_path / "t.svt")
    w = Writer(out)
    d = Drainer(w, stderr=io.StringIO())
    d.add(os.getpid(), ev.region)
    d.start(0.001)
    assert ev.threads(GETPID, 8, 2000) == 8
    d.finish()
    w.close()
    per = collections.defaultdict(list)
    for r in Reader(out):  # checks every CRC and sequence number
        per[r.args[1]].append(r.args[0])
        assert r.name == "getpid" and r.duration_ns >= 0 and r.pid == os.getpid()
    assert sorted(per) == list(range(8)) and all(v == list(range(2000)) for v in per.values())


def test_tsc_clock_stamps(lib, tmp_path):
    cal = tsc_calibration(20)
    if cal is None:
        pytest.skip("the kernel does not keep time with the TSC here: the evaluator uses the "
                    "clock_gettime syscall")
    ev = lib.evaluator(_blob("block"))
    _svring.Region(ev.region).set_clock(_svring.CLOCK_TSC, *cal)
    before = time.time_ns()
    for _ in range(100):
        ev.call(GETPID)
    out = str(tmp_path / "t.svt")
    w = Writer(out)
    d = Drainer(w, stderr=io.StringIO())
    d.add(os.getpid(), ev.region)
    d.finish()
    w.close()
    stamps = [r.time_ns for r in Reader(out)]
    assert len(stamps) == 100 and stamps == sorted(stamps)
    # the calibration maps the TSC onto CLOCK_REALTIME (a correctness bound, not a timing one)
    assert abs(stamps[0] - before) < 60 * 10**9


def test_exec_is_held_until_its_result_is_known(lib, tmp_path):
    ev = lib.evaluator(_blob("block"))
    path = H.ctypes.create_string_buffer(b"/nonexistent")
    argv = (H.ctypes.c_ulong * 2)(H.ctypes.addressof(path), 0)
    args = (H.ctypes.addressof(path), H.ctypes.addressof(argv), 0)
    out = str(tmp_path / "t.svt")
    w = Writer(out)
    d = Drainer(w, stderr=io.StringIO())
    d.add(os.getpid(), ev.region)
    ev.call(EXECVE, args, ret=-2)  # returned: it failed, the record is amended
    d.drain()
    s = ev.steps()
    s.make(EXECVE, args)
    s.entry()  # never returns: it worked...
    d.drain()
    d.exec_succeeded(os.getpid())  # ...as the engine learns when the new image starts
    s2 = ev.steps()
    s2.make(X86.by_name["exit_group"].nr, (3,))
    s2.entry()  # exit_group: written at entry
    s = ev.steps()
    s.make(EXECVE, args)
    s.c.tid = 99999  # another thread's exec: never returns, and nobody says: unfinished
    s.entry()
    d.finish()
    w.close()
    lines = [ln.split(") ", 1)[1].strip() for ln in _format(out)]
    assert lines == ["= -1 ENOENT (No such file or directory)", "= 0", "= ?", "= ?"]
    assert [bool(r.flags & NO_EXIT) for r in Reader(out)] == [False, False, True, True]


# ---- stress ------------------------------------------------------------------------------------


def test_stress_200_threads_no_record_lost(lib):
    ev = lib.evaluator(_blob("block"), ring_bytes=1 << 20)
    cal = tsc_calibration(10)
    if cal is not None:  # the cheaper clock, as a supervisor would set it
        _svring.Region(ev.region).set_clock(_svring.CLOCK_TSC, *cal)
    sink = CheckingSink()
    d = Drainer(sink, stderr=io.StringIO())
    d.add(os.getpid(), ev.region)
    d.start(0.001)
    assert ev.threads(GETPID, 200, 10_000) == 200
    d.finish()
    assert sink.seq == 2_000_000 and not sink.bad and not sink.lost
    assert len(sink.next) == 200 and set(sink.next.values()) == {10_000}
    assert _svring.Region(ev.region).stats()["dropped"] == 0
