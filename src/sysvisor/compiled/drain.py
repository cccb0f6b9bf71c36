"""The drainer: the trace rings of in-process programs -> a trace file.

    d = Drainer(writer)                  # a sysvisor.record.Writer (Record(...).writer)
    d.add(pid, region)                   # a process's shared region (an mmap of its memfd)
    d.start()                            # a thread drains every ring as it fills
    ...
    d.remove(pid)                        # the process is gone: take what it committed
    d.finish()                           # everything, and the losses on stderr

Records leave the ring in the order they were committed, already in the
file's format: the C side (`_svring.Region.drain`) gives them the
writer's next sequence numbers and their CRCs, fills in the pid
namespace and cgroup of the process, and frees the slots, so a record is
either in the file whole or still in the ring. What a ring could not
deliver is never silent: records dropped because it was full (policy
"drop"), records too big for it, and records a process left half-written
when it died (skipped, only once the process is gone: `remove` or
`finish`) become LOST records in the file, and one line on stderr at the
end. An exec is written by the program at entry (it does not return when
it works) and held here: a failed exec amends it with its result, any
later record of the thread or exec_succeeded() settles it as `= 0`.
"""
from __future__ import annotations

import os
import struct
import sys
import threading
import time

from ..record.format import LOST, NO_EXIT, Writer
from . import _svring

RING_HELD = 0x8000
RING_AMEND = 0x81
_HDR = struct.Struct("<4sHHQqqiiiIQQII6QqQQI8sI")


CLOCKSOURCE = "/sys/devices/system/clocksource/clocksource0/current_clocksource"


def tsc_calibration(ms: int = 20):
    """(tsc_base, ns_base, mult, shift) for Region.set_clock(CLOCK_TSC, ...),
    or None: only when the kernel itself keeps time with the TSC (it then
    vouches that the TSC is constant and in step on every CPU)."""
    try:
        with open(CLOCKSOURCE) as f:
            if f.read().strip() != "tsc":
                return None
    except OSError:
        return None
    return _svring.calibrate_tsc(ms)


_CG_ROOT: list = []  # the cgroup2 mount point, looked up once


def _ids(pid: int) -> tuple[int, int]:
    """(pid namespace inode, cgroup v2 directory inode) of a process."""
    from ..layers.record import _cgroup2_root, process_ids

    if not _CG_ROOT:
        _CG_ROOT.append(_cgroup2_root())
    return process_ids(pid, _CG_ROOT[0])


class _Ring:
    __slots__ = ("pid", "region", "buf", "ids", "reported")

    def __init__(self, pid, region, buf, ids):
        self.pid, self.region, self.buf, self.ids = pid, region, buf, ids
        self.reported = (0, 0, 0)  # dropped, dropped bytes, too big: already in LOST records


class Drainer:
    """Drain the trace rings of in-process programs into `writer`."""

    def __init__(self, writer: Writer, stderr=None, batch: int = 65536, ids=None):
        self.writer = writer
        self.ids = ids or _ids  # pid -> (pid namespace, cgroup): a recorder's cached lookup
        self.stderr = stderr if stderr is not None else sys.stderr
        self.batch = batch
        self.rings: dict[int, _Ring] = {}
        self.held: dict[int, bytearray] = {}  # tid -> an exec record waiting for its result
        self.lost = {"ring full": 0, "died while writing": 0, "too big for the ring": 0}
        self.records = 0
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ---- rings ---------------------------------------------------------------------

    def add(self, pid: int, buffer) -> None:
        """Start draining the ring in `buffer` (a writable mapping of the
        process's region, laid out by the evaluator's sv_ctx_init)."""
        region = _svring.Region(buffer)
        with self._lock:
            self.rings[pid] = _Ring(pid, region, buffer, self.ids(pid))

    def remove(self, pid: int) -> int:
        """The process is gone: take every record it committed, skip (and
        count) what it left half-written; returns the records taken."""
        with self._lock:
            ring = self.rings.pop(pid, None)
            if ring is None:
                return 0
            n = self._drain(ring, final=True)
            ring.region.close()
            self.writer.flush()
            return n

    def exec_succeeded(self, tid: int) -> None:
        """Thread tid's held exec worked (its new image is running)."""
        with self._lock:
            self._settle(tid, 0, None)
            self.writer.flush()

    # ---- draining ----------------------------------------------------------------------

    def drain(self, final: bool = False, flush: bool = True) -> int:
        """One pass over every ring; the records written (to the file
        with flush, else left in the writer's buffer, in sequence)."""
        n = 0
        with self._lock:
            for ring in list(self.rings.values()):
                n += self._drain(ring, final)
            if n and flush:
                self.writer.flush()
        return n

    def drain_pid(self, pid: int) -> int:
        """What process pid's ring holds (into the writer's buffer)."""
        with self._lock:
            ring = self.rings.get(pid)
            return self._drain(ring, False) if ring is not None else 0

    def _drain(self, ring: _Ring, final: bool) -> int:
        if not final and not ring.region.pending():
            return 0  # nothing claimed since the last pass (most rings, most passes)
        total = 0
        ns, cg = ring.ids
        while True:
            out = {}

            def produce(seq):
                data, n, special, runs, slots = ring.region.drain(seq, self.batch, ns, cg, final)
                out.update(special=special, runs=runs, data=data)
                return data, n

            n = self.writer.add_sequenced(produce)
            total += n
            if n and self.held:
                self._settle_from(out["data"])
            if out["runs"]:
                self.lost["died while writing"] += out["runs"]
                self._lost(ring, 0, 0, out["runs"], 0)
            if out["special"] is not None:
                self._special(out["special"])
                total += 1
                continue
            if n < self.batch and not out["runs"]:
                break  # the ring is empty (or the rest is still being written)
        if total or final:  # drops happen only while the ring is full of records
            self._report_drops(ring)
        self.records += total
        return total

    def _settle_from(self, data: bytes) -> None:
        """A thread with a held exec made another call: the exec worked."""
        off = 0
        while off + 160 <= len(data) and self.held:
            tid = struct.unpack_from("<i", data, off + 40)[0]
            if tid in self.held:
                self._settle(tid, 0, None)
            off += 160 + struct.unpack_from("<I", data, off + 144)[0]

    def _special(self, rec: bytes) -> None:
        f = list(_HDR.unpack_from(rec))
        rtype, flags, tid = f[1], f[2], f[8]
        if rtype == RING_AMEND:  # a held exec returned: it failed
            self._settle(tid, f[20], f[5])
            return
        if flags & RING_HELD:
            self._settle(tid, 0, None)  # an earlier exec of this thread worked
            self.held[tid] = bytearray(rec)

    def _settle(self, tid: int, retval: int, duration: int | None) -> None:
        rec = self.held.pop(tid, None)
        if rec is None:
            return
        flags = _HDR.unpack_from(rec)[2] & ~(RING_HELD | NO_EXIT)
        struct.pack_into("<H", rec, 6, flags)
        struct.pack_into("<q", rec, 120, retval)
        if duration is not None:
            struct.pack_into("<q", rec, 24, duration)
        self.writer.add_packed(bytes(rec))

    def _report_drops(self, ring: _Ring) -> None:
        st = ring.region.stats()
        now = (st["dropped"], st["dropped_bytes"], st["too_big"])
        if now != ring.reported:
            d = [a - b for a, b in zip(now, ring.reported)]
            ring.reported = now
            self.lost["ring full"] += d[0]
            self.lost["too big for the ring"] += d[2]
            self._lost(ring, d[0], d[1], 0, d[2])

    def _lost(self, ring: _Ring, dropped: int, nbytes: int, died: int, too_big: int) -> None:
        ns, cg = ring.ids
        self.writer.add(LOST, time_ns=time.time_ns(), pid=ring.pid, tid=ring.pid, pidns=ns, cgroup=cg,
                        args=(dropped, nbytes, died, too_big, 0, 0))

    # ---- a thread that drains as rings fill ---------------------------------------------------

    def start(self, interval: float = 0.005) -> None:
        """Drain from a thread of its own until stop() or finish()."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop():
            while not self._stop.is_set():
                if self.drain():
                    continue
                rings = list(self.rings.values())
                if len(rings) == 1:
                    rings[0].region.wait(interval)  # woken early when the ring fills up
                else:
                    self._stop.wait(interval)

        self._thread = threading.Thread(target=loop, name="sysvisor-drainer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def finish(self) -> dict:
        """Stop, take everything (the processes are gone), settle held
        execs as unfinished, say what was lost; returns the loss counts."""
        self.stop()
        with self._lock:
            for pid in list(self.rings):
                self.remove(pid)
            for tid in list(self.held):
                rec = self.held.pop(tid)
                struct.pack_into("<H", rec, 6, _HDR.unpack_from(rec)[2] & ~RING_HELD)
                self.writer.add_packed(bytes(rec))
            self.writer.flush()
        total = sum(self.lost.values())
        if total:
            why = ", ".join(f"{k}: {v}" for k, v in self.lost.items() if v)
            self.stderr.write(f"sysvisor: {total} trace record{'s' if total != 1 else ''} lost ({why})\n")
        return dict(self.lost)
