#!/usr/bin/env python3
"""Every method side by side: the FOSDEM 2025 talk's comparison, on this machine.

    python benchmarks/bench_methods.py [--rounds N] [--pin CPU] [--quick] [-n N] [--loops N]
                                       [--only percat|shloop] [--json FILE]

(A) per-process, as in the talk: `for i in 1..N: X cat /etc/passwd > /dev/null`
    (N = 1000; the talk's table: native 0.99 s, ptrace 5.99 s, ptrace+seccomp
    4.34 s, seccomp unotify 4.59 s, SUD 0.91 s, purelibc 0.97 s). X is a
    sysvisor supervisor started for each cat, virtualizing a path as the
    talk's demos do: `cat /virt/passwd` where /virt is the host's /etc, by
    `sysvisor run --remap /etc:/virt --method M` on the methods that change
    arguments (ptrace, seccomp, sud, preload) and by `sysvisor run --root /
    --bind /etc:/virt` (Confine, executed on the program's behalf) on
    unotify. References: native (`cat /etc/passwd`), `proot -b /etc:/virt`,
    strace. Each sysvisor row pays a Python start-up per cat: the last row,
    `python -m sysvisor --help`, is that floor alone.

(B) one supervisor, the sh loop: `sh -c 'for i in $(seq L); do cat /etc/passwd
    >/dev/null; done'` (L = 1000) under each method with
      record   `sysvisor record -f -e trace=%file -o FILE` (results needed:
               not unotify), the issue 5 (b) figure for sud and preload;
      python   a Python handler on openat that reads the path and lets the
               call through (benchmarks/bench_core.py's child), issue 5 (c);
      virt     the per-process command of (A) around the whole loop.

Every variant is one whole process timed from outside. Rounds are
interleaved (order rotated each round), medians, ratios to native from the
same run; `--pin CPU` runs everything under `taskset -c CPU`. LANG=C and no
other locale variable everywhere (bench_core.bench_env).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_core as core  # noqa: E402  (the shared runner: Variant, rounds, preflight)

SCRIPT = os.path.abspath(__file__)
METHODS = ("ptrace", "seccomp", "unotify", "sud", "preload")
SV = [sys.executable, "-m", "sysvisor"]
TALK = {"native": 0.988, "ptrace": 5.985, "seccomp": 4.342, "unotify": 4.585, "sud": 0.913,
        "preload": 0.968}


def virt_prefix(method: str) -> list[str]:
    """The sysvisor command that shows the host's /etc at /virt."""
    if method == "unotify":
        return SV + ["run", "--root", "/", "--bind", "/etc:/virt", "--method", "unotify", "--"]
    return SV + ["run", "--remap", "/etc:/virt", "--method", method, "--"]


def percat_variants(n: int) -> list[core.Variant]:
    def loop(prefix: list[str], path: str) -> list[str]:
        x = " ".join(prefix)
        return ["sh", "-c", f"for i in $(seq {n}); do {x} cat {path} >/dev/null; done"]

    vs = [core.Variant("native", loop([], "/etc/passwd"), "external")]
    v = core.Variant("proot -b /etc:/virt", loop(["proot", "-b", "/etc:/virt"], "/virt/passwd"),
                     "external")
    if shutil.which("proot") is None:
        v.skip = "proot not found"
    vs.append(v)
    v = core.Variant("strace -f -o /dev/null", loop(["strace", "-f", "-o", "/dev/null"],
                                                    "/etc/passwd"), "external")
    if shutil.which("strace") is None:
        v.skip = "strace not found"
    vs.append(v)
    for m in METHODS:
        vs.append(core.Variant(f"sysvisor {m}", loop(virt_prefix(m), "/virt/passwd"), "external",
                               m))
    vs.append(core.Variant("python -m sysvisor --help (start-up floor)",
                           loop(SV + ["--help"], ""), "external", "info"))
    return vs


def shloop_variants(loops: int, tmp: str) -> list[core.Variant]:
    script = f"for i in $(seq {loops}); do cat /etc/passwd >/dev/null; done"
    vscript = script.replace("/etc/passwd", "/virt/passwd")
    vs = [core.Variant("native", ["sh", "-c", script], "external")]
    v = core.Variant("strace -f -e trace=%file -o FILE",
                     ["strace", "-f", "-e", "trace=%file", "-o", os.path.join(tmp, "strace.out"),
                      "sh", "-c", script], "external")
    if shutil.which("strace") is None:
        v.skip = "strace not found"
    vs.append(v)
    v = core.Variant("proot -b /etc:/virt", ["proot", "-b", "/etc:/virt", "sh", "-c", vscript],
                     "external")
    if shutil.which("proot") is None:
        v.skip = "proot not found"
    vs.append(v)
    for m in METHODS:
        if m != "unotify":  # the recorder needs results
            vs.append(core.Variant(f"{m}: record %file",
                                   SV + ["record", "-f", "-e", "trace=%file", "--method", m, "-o",
                                         os.path.join(tmp, f"{m}.svt"), "--", "sh", "-c", script],
                                   "external", m))
        vs.append(core.Variant(f"{m}: Python handler on openat",
                               [sys.executable, core.SCRIPT, "--child", "openat", "--method", m,
                                "--out", "{OUT}", "--", "sh", "-c", script], "child", m))
        vs.append(core.Variant(f"{m}: virt (/virt = /etc)", virt_prefix(m) + ["sh", "-c", vscript],
                               "external", m))
    return vs


def table(vs: list[core.Variant], talk: bool) -> tuple[list[str], dict]:
    def walls(v):
        return {s["round"]: s["wall_ns"] for s in v.samples if "error" not in s}

    nat = walls(vs[0])
    head = "| variant | wall, median (s) | min – max (s) | × native (per-round median) |"
    sep = "|---|---:|---:|---:|"
    if talk:
        head += " the talk (s) |"
        sep += "---:|"
    out, summary = [head, sep], {}
    for v in vs:
        w = walls(v)
        pad = " |" if talk else ""
        if v.skip or not w:
            why = f"skipped: {v.skip}" if v.skip else \
                f"failed: {v.samples[0].get('error', '?')[:160] if v.samples else '?'}"
            out.append(f"| {v.name} | {why} | | |" + pad)
            continue
        m = core.median(w.values())
        x = core.median([w[r] / nat[r] for r in w if r in nat])
        row = (f"| {v.name} | {m / 1e9:.3f} | {min(w.values()) / 1e9:.3f} – "
               f"{max(w.values()) / 1e9:.3f} | {x:.2f} |")
        if talk:
            key = v.note if v.note in TALK else ("native" if v.name == "native" else None)
            row += f" {TALK[key]:.2f} |" if key else " |"
        out.append(row)
        summary[v.name] = {"wall_ns_median": m, "x_native": x}
    return out, summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 3, --quick 2)")
    ap.add_argument("--pin", metavar="CPU", help="run every variant under `taskset -c CPU`")
    ap.add_argument("--quick", action="store_true", help="N = 50 cats, loops = 100")
    ap.add_argument("-n", type=int, help="cats in (A) (default 1000)")
    ap.add_argument("--loops", type=int, help="iterations of the sh loop in (B) (default 1000)")
    ap.add_argument("--only", choices=("percat", "shloop"))
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    rounds = args.rounds or (2 if args.quick else 3)
    n = args.n or (50 if args.quick else 1000)
    loops = args.loops or (100 if args.quick else 1000)
    prefix = ["taskset", "-c", str(args.pin)] if args.pin is not None else []
    env = core.bench_env()

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    md = [f"**Command:** `{core.fmt_argv(['python', os.path.relpath(SCRIPT)] + sys.argv[1:])}`  ",
          f"{time.strftime('%Y-%m-%d')}; Linux {platform.release()}, {os.cpu_count()} CPUs; "
          f"{rounds} interleaved rounds, medians; "
          + (f"pinned (`taskset -c {args.pin}`)" if prefix else "unpinned") + "; LANG=C", ""]
    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="sysvisor-bench-methods-") as tmp:
        parts = []
        if args.only in (None, "percat"):
            parts.append(("percat", f"### (A) {n} × `X cat /etc/passwd` (a supervisor per cat)",
                          percat_variants(n), True))
        if args.only in (None, "shloop"):
            parts.append(("shloop", f"### (B) the sh loop under one supervisor (seq {loops})",
                          shloop_variants(loops, tmp), False))
        for key, title, vs, talk in parts:
            for v in vs:
                if v.skip is None:
                    core.preflight(v, prefix, env, tmp, _shrink)
                    if v.skip:
                        log(f"  [{key}] {v.name}: {v.skip}")
            core.run_rounds(key, vs, rounds, prefix, env, tmp, log)
            rows, summary = table(vs, talk)
            md += [title, ""] + rows + [""]
            report[key] = {"summary": summary, "samples": {v.name: v.samples for v in vs},
                           "skipped": {v.name: v.skip for v in vs if v.skip}}
    md.append("(A): the talk's demos are C supervisors; every sysvisor row starts a Python "
              "interpreter and imports sysvisor per cat (the start-up floor row). (B): record "
              "writes binary records (`sysvisor format` renders them); unotify cannot record "
              "(no results of calls it lets through) and virtualizes by executing on the "
              "program's behalf (Confine).")
    text = "\n".join(md)
    print(text)
    if args.json:
        report["markdown"] = text
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


def _shrink(argv):
    """The preflight's tiny version of a variant: 2 iterations."""
    out = []
    for a in argv:
        if "$(seq " in a:
            a = a.replace(a[a.index("$(seq "):a.index(")", a.index("$(seq ")) + 1], "$(seq 2)")
        out.append(a)
    return out


if __name__ == "__main__":
    sys.exit(main())
