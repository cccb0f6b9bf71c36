#!/usr/bin/env python3
"""Micro-benchmarks of the in-process methods (sud, preload).

(a) getpid answered by a Python layer (call.ret(4242)): the cost of one
    crossing to the supervisor and back; and getpid emulated in the shim:
    the same answer from a compiled layer (Faults, `inject=getpid:retval=4242`),
    which the evaluator in the program gives with no crossing (issue 5 (a));
(b) an uninteresting syscall: the same raw getpid loop with a layer that
    wants something else (openat): what every call costs the program when no
    layer asked for it (sud: a SIGSYS and its sigreturn; preload: a wrapper
    and the interest check);
(c) the hybrid backstop (sud+backstop, preload+backstop): (a) and (b) again,
    whose calls the shim makes from its trampoline (the filter lets them
    through: they should cost what they cost without it), and (a) on a
    statically linked copy of the loop, whose every getpid the backstop
    catches (one seccomp notification each), next to unotify on the same
    static program. "backstop notifications" counts what the backstop
    caught in the whole run (the loader's calls, the spawn's execve).

benchmarks/getpid_loop.c times its own loop (CLOCK_MONOTONIC through the
vDSO), so start-up and exec are not in the figures. Every round runs every
variant (rotated order); the report gives medians, and the ratio to the
native loop of the same round. ptrace/seccomp/unotify rows are a reference
for (a).

    python benchmarks/bench_inprocess.py [--rounds 5] [-n 20000] [--pin 0] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.abspath(__file__)
ANSWER = 4242


def child(kind: str, method: str, out: str, argv: list[str]) -> int:
    import sysvisor

    class AnswerGetpid(sysvisor.Layer):
        def getpid(self, call):
            return call.ret(ANSWER)

    class WantsOpenat(sysvisor.Layer):
        def openat(self, call):
            return call.next()

    if kind == "compiled":
        from sysvisor.layers.faults import Faults, parse_inject

        layer = Faults([parse_inject(f"getpid:retval={ANSWER}")])
    else:
        layer = AnswerGetpid() if kind == "answer" else WantsOpenat()
    s = sysvisor.Session([layer], method=method, measure=True)
    r, w = os.pipe()
    saved = os.dup(1)
    os.dup2(w, 1)
    try:
        s.spawn(argv)
    finally:
        os.dup2(saved, 1)
        os.close(w)
    status = s.run()
    text = os.read(r, 4096).decode()
    ns = sorted(s.stop_ns)
    bs = getattr(s._engine, "backstop", None)
    with open(out, "w") as f:
        json.dump({"status": status, "out": text, "stops": s.stops,
                   "backstop_stops": bs.stops if bs is not None else None,
                   "py_median": statistics.median(ns) if ns else None}, f)
    return status


def run_variant(v: dict, prefix: list[str], tmp: str) -> dict:
    out = os.path.join(tmp, "child.json")
    if v["method"] == "native":
        p = subprocess.run(prefix + v["argv"], capture_output=True, text=True)
        text, extra = p.stdout, {}
    else:
        cmd = prefix + [sys.executable, SCRIPT, "--child", v["kind"], "--method", v["method"],
                        "--out", out, "--"] + v["argv"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        try:
            with open(out) as f:
                extra = json.load(f)
            text = extra.pop("out")
        except (OSError, ValueError):
            return {"error": p.stderr.strip()[-300:]}
    n, loop_ns, last = text.split()
    return {"loop_ns": int(loop_ns), "last": int(last), **extra}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-n", type=int, default=20000, help="getpid calls per loop")
    ap.add_argument("--pin", metavar="CPU", help="run everything under taskset -c CPU")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.method, a.out, a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd)
    tmp = tempfile.mkdtemp(prefix="sv-bench-")
    exe = os.path.join(tmp, "getpid_loop")
    subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "getpid_loop.c")], check=True)
    static = os.path.join(tmp, "getpid_loop_static")
    if subprocess.run(["gcc", "-O2", "-static", "-o", static, os.path.join(HERE, "getpid_loop.c")]).returncode:
        static = None  # no libc.a: the static rows are skipped
    prefix = ["taskset", "-c", a.pin] if a.pin else []
    if a.pin and not shutil.which("taskset"):
        raise SystemExit("--pin needs taskset")
    argv = [exe, str(a.n)]
    variants = [{"name": "native", "method": "native", "kind": "", "argv": argv}]
    for m in ("sud", "preload"):
        variants.append({"name": f"{m}: uninteresting getpid", "method": m, "kind": "other", "argv": argv})
    for m in ("sud", "preload"):
        variants.append({"name": f"{m}: getpid emulated in the shim (compiled)", "method": m,
                         "kind": "compiled", "argv": argv})
    for m in ("sud", "preload", "unotify", "seccomp", "ptrace"):
        variants.append({"name": f"{m}: getpid answered by a Python layer", "method": m,
                         "kind": "answer", "argv": argv})
    for m in ("sud+backstop", "preload+backstop"):
        variants.append({"name": f"{m}: uninteresting getpid", "method": m, "kind": "other", "argv": argv})
        variants.append({"name": f"{m}: getpid answered (shim)", "method": m, "kind": "answer",
                         "argv": argv})
    if static:
        sargv = [static, str(a.n)]
        variants.append({"name": "native, static", "method": "native", "kind": "", "argv": sargv})
        for m in ("sud+backstop", "preload+backstop", "unotify"):
            variants.append({"name": f"{m}: static getpid answered{' (backstop)' if '+' in m else ''}",
                             "method": m, "kind": "answer", "argv": sargv})
    samples: dict[str, list[dict]] = {v["name"]: [] for v in variants}
    for rnd in range(a.rounds):
        order = variants[rnd % len(variants):] + variants[:rnd % len(variants)]
        for v in order:
            s = run_variant(v, prefix, tmp)
            s["round"] = rnd
            samples[v["name"]].append(s)
            print(f"round {rnd} {v['name']}: {s.get('loop_ns', s.get('error'))}", file=sys.stderr)
    native = {s["round"]: s["loop_ns"] for s in samples["native"] if "loop_ns" in s}
    native_static = {s["round"]: s["loop_ns"] for s in samples.get("native, static", ()) if "loop_ns" in s}
    n = a.n
    print(f"{a.rounds} interleaved rounds, N = {n}, {'pinned to CPU ' + a.pin if a.pin else 'unpinned'}; "
          f"kernel {os.uname().release}\n")
    print("| variant | loop, median (ms) | µs per call | × native (per call) | stops | "
          "backstop notifications | Python µs per stop, median |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    nat = statistics.median(native.values())
    for v in variants:
        ok = [s for s in samples[v["name"]] if "loop_ns" in s]
        if not ok:
            err = samples[v["name"]][0].get("error", "?") if samples[v["name"]] else "?"
            print(f"| {v['name']} | failed: {err[:100]} | | | | | |")
            continue
        loop = statistics.median(s["loop_ns"] for s in ok)
        # static rows against the static native loop of the same round
        base = native_static if "static" in v["name"] and native_static else native
        ratio = statistics.median(s["loop_ns"] / base[s["round"]] for s in ok if s["round"] in base)
        per = loop / n / 1000
        if v["method"] == "native":
            print(f"| {v['name']} | {loop / 1e6:.2f} | {per:.3f} | 1.00 | – | – | – |")
            continue
        wrong = v["kind"] in ("answer", "compiled") and any(s["last"] != ANSWER for s in ok)
        py = statistics.median(s["py_median"] for s in ok if s.get("py_median")) / 1000 \
            if any(s.get("py_median") for s in ok) else None
        bs = [s["backstop_stops"] for s in ok if s.get("backstop_stops") is not None]
        bs_text = f"{statistics.median(bs):.0f}" if bs else "–"
        print(f"| {v['name']}{' (NOT ANSWERED)' if wrong else ''} | {loop / 1e6:.2f} | {per:.3f} "
              f"| {ratio:.1f} | {statistics.median(s['stops'] for s in ok):.0f} | {bs_text} "
              f"| {'–' if py is None else f'{py:.1f}'} |")
    print(f"\nnative getpid: {nat / n:.0f} ns per call")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(samples, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
