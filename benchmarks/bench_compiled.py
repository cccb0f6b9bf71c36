#!/usr/bin/env python3
"""The compiled-layer evaluator's cost per call, measured in C.

Builds native/svpolicy.c and native/svring.c with the shim's flags (and the
test harness tests/svharness.c), then times sv_entry + sv_exit in a C loop
(no real system call is made: the figures are the evaluator's own work):

  nothing        a syscall no layer compiled anything for (the dispatch)
  errno rule     Faults openat:error=ENOENT (decided at entry)
  when= counter  Faults getpid:error=EPERM:when=65535 (counted, not injected)
  remap          Remap /data -> /tmp/store, an absolute openat path
  fakeroot       getuid answered from the region
  trace          Record: openat with its path payload, into the ring
                 (big enough for the round, drained after it), with the
                 clock_gettime syscall and with the TSC (calibrated by the
                 supervisor)
  trace, no payload   getpid into the ring

and, for scale, one process_vm_readv of a 36-byte path (how the evaluator
reads the program's memory without risking a fault) and the drainer's
rate (records per second into a trace file). Medians of --rounds rounds.

    python benchmarks/bench_compiled.py [--rounds 7] [--n 200000] [--json FILE]
    taskset -c 0 python benchmarks/bench_compiled.py
"""
from __future__ import annotations

import argparse
import ctypes
import io
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import svharness as H  # noqa: E402
from sysvisor.compiled import _svring, compile_stack  # noqa: E402
from sysvisor.compiled.drain import Drainer, tsc_calibration  # noqa: E402
from sysvisor.layers.fakeroot import FakeRoot  # noqa: E402
from sysvisor.layers.faults import Faults, parse_inject  # noqa: E402
from sysvisor.layers.record import Record  # noqa: E402
from sysvisor.layers.remap import Bind, Remap  # noqa: E402
from sysvisor.record.format import Writer  # noqa: E402
from sysvisor.tables import table  # noqa: E402

T = table("x86_64")
NR = {n: T.by_name[n].nr for n in ("openat", "getpid", "getuid", "close")}
PATH = b"/usr/lib/x86_64-linux-gnu/libc.so.6\0"


def measure(lib, ev, nr, args, n, drain=None):
    """ns per call; the ring (sized for the n records) is drained after,
    so the figure is the program's cost, not the supervisor's."""
    c = H.SvCall(nr, (ctypes.c_ulong * 6)(*args, *[0] * (6 - len(args))), 0x401000, 0x7FFC0000,
                 os.getpid(), os.getpid(), T.audit_arch)
    ns = ev.time_calls(c, n)
    if drain is not None:
        drain.drain()
    return ns


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--json")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sysvisor-bench-")
    lib = H.Lib(H.build(tmp))
    path = ctypes.create_string_buffer(PATH)
    p = ctypes.addressof(path)
    sink = Writer(os.path.join(tmp, "t.svt"))
    cases = {
        "nothing": ([Faults([parse_inject("close:error=EBADF")])], NR["getpid"], ()),
        "errno rule": ([Faults([parse_inject("openat:error=ENOENT")])], NR["openat"], (-100, p, 0)),
        "when= counter": ([Faults([parse_inject("getpid:error=EPERM:when=65535")])],
                          NR["getpid"], ()),
        "remap": ([Remap([Bind("/usr", "/tmp/store")])], NR["openat"], (-100, p, 0)),
        "fakeroot getuid": ([FakeRoot()], NR["getuid"], ()),
        "trace, path payload, syscall clock": ([Record(sink, trace="openat")], NR["openat"],
                                               (-100, p, 0)),
        "trace, path payload, TSC clock": ([Record(sink, trace="openat")], NR["openat"], (-100, p, 0)),
        "trace, no payload, TSC clock": ([Record(sink, trace="getpid")], NR["getpid"], ()),
        "trace, path payload, TSC clock, 512-byte pending": ([Record(sink, trace="openat")],
                                                              NR["openat"], (-100, p, 0)),
    }
    cal = tsc_calibration(20)
    results: dict[str, list[float]] = {k: [] for k in cases}
    evs = {}
    for name, (layers, nr, args) in cases.items():
        ev = lib.evaluator(compile_stack(layers).blob, ring_bytes=a.n * 4 * 64,
                           pending=H.SV_PENDING_MIN if "512-byte" in name else H.SV_PENDING_SIZE)
        region = ev.region  # fault its pages in now: a ring in use has them
        for off in range(4096, len(region), 4096):
            region[off] = region[off]
        if "TSC" in name:
            if cal is None:
                continue
            _svring.Region(ev.region).set_clock(_svring.CLOCK_TSC, *cal)
        d = None
        if name.startswith("trace"):
            d = Drainer(sink, stderr=io.StringIO())
            d.add(os.getpid(), ev.region)
        evs[name] = (ev, nr, args, d)
    for _ in range(a.rounds):  # interleaved rounds
        for name, (ev, nr, args, d) in evs.items():
            results[name].append(measure(lib, ev, nr, args, a.n, d))
    # the fault-safe read, for scale
    src = ctypes.create_string_buffer(PATH)
    dst = ctypes.create_string_buffer(64)
    libc = ctypes.CDLL(None, use_errno=True)

    class Iov(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    lio, rio = Iov(ctypes.addressof(dst), 36), Iov(ctypes.addressof(src), 36)
    t0 = time.perf_counter_ns()
    k = 20000
    for _ in range(k):
        libc.syscall(310, os.getpid(), ctypes.byref(lio), 1, ctypes.byref(rio), 1, 0)
    pvm_py = (time.perf_counter_ns() - t0) / k
    # the drainer's rate
    ev = lib.evaluator(compile_stack([Record(sink, trace="getpid")]).blob, ring_bytes=64 << 20)
    ev.time_calls(H.SvCall(NR["getpid"], (ctypes.c_ulong * 6)(), 0, 0, os.getpid(), os.getpid(),
                           T.audit_arch), 300_000)
    d = Drainer(sink, stderr=io.StringIO())
    d.add(os.getpid(), ev.region)
    t0 = time.perf_counter()
    n = d.drain()
    rate = n / (time.perf_counter() - t0)
    sink.close()
    print(f"# evaluator cost per call (sv_entry + sv_exit, C loop, n={a.n}, {a.rounds} rounds, "
          f"median ns; kernel {os.uname().release}, {os.cpu_count()} CPUs, "
          f"affinity {sorted(os.sched_getaffinity(0))})\n")
    print("| case | ns per call (median) | min | max |\n|---|---|---|---|")
    out = {}
    for name, vals in results.items():
        if not vals:
            print(f"| {name} | skipped (no TSC) | | |")
            continue
        out[name] = vals
        print(f"| {name} | {statistics.median(vals):.0f} | {min(vals):.0f} | {max(vals):.0f} |")
    print(f"\nprocess_vm_readv of 36 bytes, from Python through ctypes: {pvm_py:.0f} ns "
          f"(the C figure is the 'remap' row's main cost)")
    print(f"drainer: {n} records in one drain, {rate / 1e6:.2f} M records/s into the trace file")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"ns_per_call": out, "drain_records_per_s": rate}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
