#!/usr/bin/env python3
"""Core benchmarks for sysvisor (stdlib only).

    python benchmarks/bench_core.py [--rounds N] [--pin CPU] [--quick] [--json FILE]

(a) getpid: per-intercepted-call latency. A C program (getpid_loop.c,
    compiled with gcc into a temporary directory) calls raw
    syscall(SYS_getpid) N times and times its own loop with
    CLOCK_MONOTONIC (a vDSO call: invisible to the tracer). It runs
    natively and under each sysvisor method with a layer that answers
    getpid itself (call.ret(4242)). µs per intercepted call =
    (traced loop time - native loop time) / N, per round, median over
    rounds; plus the median Python time per stop from Session.stop_ns.

(b) shloop: `sh -c 'for i in $(seq 1000); do cat /etc/hostname >/dev/null; done'`
    (LANG=C in every variant) natively, under `strace -f --seccomp-bpf
    -e trace=openat -o /dev/null`, under each sysvisor method with a layer
    that watches openat (reads the path, lets the call through, no exit
    callback), and under the CLI `python -m sysvisor trace -f -e
    trace=openat -o /dev/null --method seccomp`. Every variant is one whole
    process timed from outside (sysvisor rows include the interpreter's
    start-up and `import sysvisor`, as strace's include its own).

Rounds are interleaved: each round runs every variant once, in an order
rotated by one each round. Medians, and ratios to native from the same run.
`--pin CPU` prefixes every variant with `taskset -c CPU`, so tracer and
tracee share one CPU.

The script also has an internal `--child` mode: the driver that runs one
sysvisor Session in a fresh process and writes its numbers to a JSON file.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.abspath(__file__)
C_SOURCE = os.path.join(HERE, "getpid_loop.c")
ANSWER = 4242
METHODS = ("ptrace", "seccomp", "unotify")
TIMEOUT = 1800  # seconds, per variant run


# ---------------------------------------------------------------- child mode

def child_main(kind: str, method: str, out: str, argv: list[str]) -> int:
    """Run argv under one sysvisor Session; write stats to `out`."""
    import sysvisor

    if kind == "getpid":
        class AnswerGetpid(sysvisor.Layer):
            def getpid(self, call):
                return call.ret(ANSWER)

        layer = AnswerGetpid()
    elif kind == "openat":
        class WatchOpenat(sysvisor.Layer):
            def __init__(self):
                self.count = 0
                self.last = None

            def openat(self, call):
                self.last = call.string(1)
                self.count += 1
                return call.next()

        layer = WatchOpenat()
    else:
        raise SystemExit(f"unknown child kind {kind}")

    # the traced program gets exactly the environment this process was given
    # (bench_env() already disabled Python's LC_CTYPE coercion; drop it
    # anyway if some other start-up path added it)
    env = dict(os.environ)
    if os.environ.get("PYTHONCOERCECLOCALE") == "0" and env.get("LC_CTYPE") == "C.UTF-8":
        del env["LC_CTYPE"]
    t0 = time.perf_counter_ns()
    s = sysvisor.Session([layer], method=method, measure=True)
    s.spawn(argv, env=env)
    status = s.run()
    wall = time.perf_counter_ns() - t0
    ns = sorted(s.stop_ns)
    res = {
        "status": status,
        "inner_wall_ns": wall,
        "stops": s.stops,
        "stop_ns_n": len(ns),
        "stop_ns_median": statistics.median(ns) if ns else None,
        "stop_ns_p90": ns[int(len(ns) * 0.9)] if ns else None,
        "stop_ns_mean": statistics.fmean(ns) if ns else None,
        "stop_ns_total": sum(ns),
        "method": s.method.name,
        "errors": [repr(e) for e in s.errors][:5],
    }
    if kind == "openat":
        res["handled"] = layer.count
        res["last_path"] = layer.last if isinstance(layer.last, str) else repr(layer.last)
    with open(out, "w") as f:
        json.dump(res, f)
    return status


# ---------------------------------------------------------------- helpers

def sh_loop_script(n: int) -> str:
    return f"for i in $(seq {n}); do cat /etc/hostname >/dev/null; done"


def bench_env() -> dict:
    """The caller's environment with LANG=C and no other locale variable
    (LANG=C: glibc opens no per-category locale files)."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("LC_") or k in ("LANG", "LANGUAGE"))}
    env["LANG"] = "C"
    # Python's PEP 538 locale coercion would otherwise set LC_CTYPE=C.UTF-8
    # in every Python process started with LANG=C (the sysvisor rows and the
    # CLI row), and the traced sh/cat would inherit it: 5 more openat calls
    # per cat (locale-archive, LC_CTYPE, gconv...) than the native and
    # strace rows. Every variant gets the same environment instead.
    env["PYTHONCOERCECLOCALE"] = "0"
    return env


def fmt_argv(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Variant:
    """One row: how to build its command and how to read its result."""

    def __init__(self, name: str, argv: list[str], kind: str, note: str = ""):
        self.name = name
        self.argv = argv  # without the taskset prefix; "{OUT}" is the child's JSON file
        self.kind = kind  # native-c | child | external
        self.note = note
        self.samples: list[dict] = []
        self.skip: str | None = None


def run_once(v: Variant, prefix: list[str], env: dict, tmp: str) -> dict:
    out = os.path.join(tmp, "child.json")
    if os.path.exists(out):
        os.unlink(out)
    argv = prefix + [out if a == "{OUT}" else a for a in v.argv]
    t0 = time.perf_counter_ns()
    p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    wall = time.perf_counter_ns() - t0
    res = {"wall_ns": wall, "rc": p.returncode}
    if p.returncode != 0:
        res["error"] = (f"exit status {p.returncode}: "
                        + p.stderr.decode(errors="replace").strip()[-800:])
    if v.kind == "child":
        try:
            with open(out) as f:
                res.update(json.load(f))
        except (OSError, ValueError) as e:
            res.setdefault("error", f"no result from child: {e}; stderr: "
                           + p.stderr.decode(errors="replace").strip()[-800:])
    # the getpid program prints "<N> <loop_ns> <last>" as its last line
    lines = p.stdout.decode(errors="replace").split()
    if v.kind in ("native-c", "child") and len(lines) >= 3 and v.note == "getpid":
        try:
            n, loop_ns, last = (int(x) for x in lines[-3:])
            res.update(n=n, loop_ns=loop_ns, last=last)
        except ValueError:
            res.setdefault("error", f"unexpected output: {lines[-3:]}")
    return res


def run_rounds(title: str, variants: list[Variant], rounds: int, prefix: list[str],
               env: dict, tmp: str, log) -> None:
    live = [v for v in variants if v.skip is None]
    k = len(live)
    for r in range(rounds):
        order = live[r % k:] + live[:r % k] if k else []
        for v in order:
            res = run_once(v, prefix, env, tmp)
            res["round"] = r
            v.samples.append(res)
            state = "ERROR" if "error" in res else f"{res['wall_ns'] / 1e9:.3f} s"
            log(f"  [{title}] round {r + 1}/{rounds} {v.name:<22} {state}")
            if "error" in res:
                log(f"      {res['error'][:400]}")


def preflight(v: Variant, prefix: list[str], env: dict, tmp: str, small_argv) -> None:
    """A tiny run of the variant: warms caches and turns a broken variant
    into a clear skip instead of a table of errors."""
    saved = v.argv
    v.argv = small_argv(v.argv)
    try:
        res = run_once(v, prefix, env, tmp)
    except subprocess.TimeoutExpired:
        res = {"error": "timed out"}
    finally:
        v.argv = saved
    if "error" in res:
        v.skip = "preflight failed: " + res["error"].splitlines()[0][:300]


# ---------------------------------------------------------------- the two benchmarks

def build_getpid(tmp: str, n: int) -> tuple[list[Variant], str | None]:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return [], "gcc not found: getpid benchmark skipped"
    exe = os.path.join(tmp, "getpid_loop")
    p = subprocess.run([gcc, "-O2", "-o", exe, C_SOURCE], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if p.returncode != 0:
        return [], "gcc failed: getpid benchmark skipped\n" + p.stdout.decode(errors="replace")
    vs = [Variant("native", [exe, str(n)], "native-c", "getpid")]
    st = Variant("strace -f --seccomp-bpf (reference)",
                 ["strace", "-f", "--seccomp-bpf", "-e", "trace=getpid", "-o", "/dev/null",
                  exe, str(n)], "native-c", "getpid")
    if shutil.which("strace") is None:
        st.skip = "strace not found"
    vs.append(st)
    for m in METHODS:
        vs.append(Variant(f"sysvisor {m}",
                          [sys.executable, SCRIPT, "--child", "getpid", "--method", m,
                           "--out", "{OUT}", "--", exe, str(n)], "child", "getpid"))
    return vs, None


def build_shloop(loops: int) -> list[Variant]:
    script = sh_loop_script(loops)
    sh = ["sh", "-c", script]
    vs = [Variant("native", sh, "external")]
    strace = shutil.which("strace")
    v = Variant("strace -f --seccomp-bpf", ["strace", "-f", "--seccomp-bpf", "-e", "trace=openat",
                                             "-o", "/dev/null"] + sh, "external")
    if strace is None:
        v.skip = "strace not found"
    vs.append(v)
    for m in METHODS:
        vs.append(Variant(f"sysvisor {m}",
                          [sys.executable, SCRIPT, "--child", "openat", "--method", m,
                           "--out", "{OUT}", "--"] + sh, "child"))
    vs.append(Variant("CLI trace --method seccomp",
                      [sys.executable, "-m", "sysvisor", "trace", "-f", "-e", "trace=openat",
                       "-o", "/dev/null", "--method", "seccomp", "--"] + sh, "external"))
    vs.append(Variant("python + import sysvisor", [sys.executable, "-c", "import sysvisor"],
                      "external", "info"))
    return vs


def build_trace(loops: int, tmp: str) -> list[Variant]:
    """Issue #3's benchmark: the sh loop traced with %file to a file."""
    script = sh_loop_script(loops)
    sh = ["sh", "-c", script]
    vs = [Variant("native", sh, "external")]
    v = Variant("strace -f --seccomp-bpf -e trace=%file -o FILE",
                ["strace", "-f", "--seccomp-bpf", "-e", "trace=%file", "-o",
                 os.path.join(tmp, "strace.out")] + sh, "external")
    if shutil.which("strace") is None:
        v.skip = "strace not found"
    vs.append(v)
    vs.append(Variant("sysvisor trace -f -e trace=%file -o FILE",
                      [sys.executable, "-m", "sysvisor", "trace", "-f", "-e", "trace=%file",
                       "-o", os.path.join(tmp, "sysvisor.out"), "--"] + sh, "external"))
    vs.append(Variant("sysvisor record -f -e trace=%file -o FILE",
                      [sys.executable, "-m", "sysvisor", "record", "-f", "-e", "trace=%file",
                       "-o", os.path.join(tmp, "sysvisor.svt"), "--"] + sh, "external"))
    return vs


def trace_table(vs: list[Variant]) -> tuple[list[str], dict]:
    out = ["| variant | wall, median (s) | min – max (s) | × native | × strace |",
           "|---|---:|---:|---:|---:|"]
    meds = {}
    for v in vs:
        g = [x["wall_ns"] for x in v.samples if "error" not in x] if not v.skip else []
        meds[v.name] = median(g) if g else None
    nat = meds.get("native")
    st = meds.get(vs[1].name)
    for v in vs:
        w = meds[v.name]
        if w is None:
            out.append(f"| {v.name} | {'skipped: ' + v.skip if v.skip else 'failed'} | | | |")
            continue
        g = [x["wall_ns"] for x in v.samples if "error" not in x]
        out.append(f"| {v.name} | {w / 1e9:.3f} | {min(g) / 1e9:.3f} – {max(g) / 1e9:.3f} "
                   f"| {w / nat:.2f} | {w / st:.2f} |" if nat and st else f"| {v.name} | {w / 1e9:.3f} | | | |")
    return out, {k: v for k, v in meds.items()}


def _shrink_shloop(argv):
    return argv[:-1] + [sh_loop_script(3)] if argv[-1].startswith("for i in") else argv


def _shrink_getpid(argv):
    return argv[:-1] + ["100"] if argv[-1].isdigit() else argv


# ---------------------------------------------------------------- reports

def us(ns):
    return "–" if ns is None else f"{ns / 1000:.1f}"


def getpid_table(vs: list[Variant], n: int) -> tuple[list[str], dict]:
    out = ["| variant | loop time, median (ms) | µs per intercepted call | stops per call "
           "| Python µs per stop, median (p90) | answered by layer |",
           "|---|---:|---:|---:|---:|:---:|"]
    summary = {}
    native = next((v for v in vs if v.name == "native"), None)
    nat_by_round = {s["round"]: s["loop_ns"] for s in (native.samples if native else [])
                    if "loop_ns" in s}
    for v in vs:
        if v.skip:
            out.append(f"| {v.name} | skipped: {v.skip} | | | | |")
            continue
        ok = [s for s in v.samples if "loop_ns" in s and "error" not in s]
        if not ok:
            out.append(f"| {v.name} | failed: {v.samples[0].get('error', '?')[:120] if v.samples else '?'} | | | | |")
            continue
        loop = median([s["loop_ns"] for s in ok])
        if v is native:
            out.append(f"| native | {loop / 1e6:.2f} | {loop / n / 1000:.3f} (the call itself) "
                       f"| – | – | – |")
            summary[v.name] = {"loop_ns": loop, "ns_per_call": loop / n}
            continue
        per_call = median([(s["loop_ns"] - nat_by_round[s["round"]]) / n
                           for s in ok if s["round"] in nat_by_round])
        if v.kind == "native-c":  # strace: traces every getpid, does not answer it
            out.append(f"| {v.name} | {loop / 1e6:.1f} | {us(per_call)} | 2 (entry + exit) "
                       f"| – | no (traced only) |")
            summary[v.name] = {"loop_ns": loop, "us_per_call": per_call / 1000 if per_call else None}
            continue
        stops = median([s["stops"] for s in ok])
        py = median([s["stop_ns_median"] for s in ok])
        p90 = median([s["stop_ns_p90"] for s in ok])
        answered = all(s["last"] == ANSWER for s in ok)
        out.append(f"| {v.name} | {loop / 1e6:.1f} | {us(per_call)} | {stops / n:.2f} "
                   f"| {us(py)} ({us(p90)}) | {'yes' if answered else 'NO'} |")
        summary[v.name] = {"loop_ns": loop, "us_per_call": per_call / 1000 if per_call else None,
                           "stops": stops, "py_stop_ns_median": py, "py_stop_ns_p90": p90,
                           "answered": answered}
    return out, summary


def shloop_table(vs: list[Variant], loops: int) -> tuple[list[str], dict]:
    out = ["| variant | wall, median (s) | min – max (s) | × native | × strace "
           "| traced run only (s) | run × strace | stops "
           "| openat seen | Python µs per stop, median (p90) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    summary = {}
    by = {v.name: v for v in vs}

    def good(v):
        return [s for s in v.samples if "error" not in s] if v and not v.skip else []

    def med(v):
        g = good(v)
        return median([s["wall_ns"] for s in g]) if g else None

    nat = med(by.get("native"))
    st = med(by.get("strace -f --seccomp-bpf"))
    for v in vs:
        if v.skip:
            out.append(f"| {v.name} | skipped: {v.skip} | | | | | | | | |")
            continue
        g = good(v)
        if not g:
            err = v.samples[0].get("error", "?")[:120] if v.samples else "?"
            out.append(f"| {v.name} | failed: {err} | | | | | | | | |")
            continue
        w = med(v)
        lo = min(s["wall_ns"] for s in g)
        hi = max(s["wall_ns"] for s in g)
        xn = f"{w / nat:.2f}" if nat else "–"
        xs = f"{w / st:.2f}" if st and v.note != "info" else "–"
        run_only = median([s["inner_wall_ns"] for s in g]) if v.kind == "child" else None
        ro = f"{run_only / 1e9:.3f}" if run_only else "–"
        rx = f"{run_only / st:.2f}" if run_only and st else "–"
        if v.kind == "child":
            stops = f"{median([s['stops'] for s in g]):.0f}"
            seen = f"{median([s.get('handled', 0) for s in g]):.0f}"
            py = f"{us(median([s['stop_ns_median'] for s in g]))} " \
                 f"({us(median([s['stop_ns_p90'] for s in g]))})"
        else:
            stops, seen, py = "–", "–", "–"
        name = v.name + (" (info: start-up cost only)" if v.note == "info" else "")
        out.append(f"| {name} | {w / 1e9:.3f} | {lo / 1e9:.3f} – {hi / 1e9:.3f} | {xn} | {xs} "
                   f"| {ro} | {rx} | {stops} | {seen} | {py} |")
        summary[v.name] = {"wall_ns_median": w, "x_native": w / nat if nat else None,
                           "x_strace": w / st if st else None,
                           "run_only_x_strace": run_only / st if run_only and st else None}
        if v.kind == "child":
            summary[v.name].update(
                stops=median([s["stops"] for s in g]),
                py_stop_ns_median=median([s["stop_ns_median"] for s in g]),
                py_stop_ns_p90=median([s["stop_ns_p90"] for s in g]),
                handled=median([s.get("handled", 0) for s in g]))
    return out, summary


def key_ratio(vs: list[Variant], name: str) -> tuple[float | None, float | None]:
    """(ratio of medians, median of per-round ratios) of `name` to strace."""
    by = {v.name: v for v in vs}
    a, b = by.get(name), by.get("strace -f --seccomp-bpf")
    if not a or not b or a.skip or b.skip:
        return None, None
    ga = {s["round"]: s["wall_ns"] for s in a.samples if "error" not in s}
    gb = {s["round"]: s["wall_ns"] for s in b.samples if "error" not in s}
    if not ga or not gb:
        return None, None
    rom = median(ga.values()) / median(gb.values())
    per = median([ga[r] / gb[r] for r in ga if r in gb])
    return rom, per


# ---------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 5, --quick 3)")
    ap.add_argument("--pin", metavar="CPU", help="run every variant under `taskset -c CPU`")
    ap.add_argument("--quick", action="store_true",
                    help="N=2000 getpid calls, seq 100, 3 rounds")
    ap.add_argument("--json", metavar="FILE", help="also write every sample to FILE")
    ap.add_argument("--only", choices=("getpid", "shloop", "trace"), help="run one benchmark only")
    ap.add_argument("--child", choices=("getpid", "openat"), help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        return child_main(args.child, args.method, args.out, cmd)
    if args.cmd:
        ap.error(f"unexpected arguments: {args.cmd}")

    rounds = args.rounds or (3 if args.quick else 5)
    n_getpid = 2000 if args.quick else 20000
    loops = 100 if args.quick else 1000
    prefix: list[str] = []
    if args.pin is not None:
        if shutil.which("taskset") is None:
            ap.error("--pin needs taskset (util-linux)")
        prefix = ["taskset", "-c", str(args.pin)]

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    try:
        import sysvisor
        sv_where = os.path.dirname(os.path.abspath(sysvisor.__file__))
        sv_skip = None
    except Exception as e:  # noqa: BLE001 - any import failure means: skip its rows
        sv_where, sv_skip = None, f"cannot import sysvisor ({type(e).__name__}: {e})"

    env = bench_env()
    cmdline = fmt_argv([os.path.basename(sys.executable)] + [os.path.relpath(SCRIPT)] + sys.argv[1:])
    if os.environ.get("PYTHONPATH"):
        cmdline = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} " + cmdline
    report: dict = {
        "command": cmdline, "rounds": rounds, "pin": args.pin, "quick": args.quick,
        "getpid_n": n_getpid, "shloop_iterations": loops,
        "python": sys.version.split()[0], "kernel": platform.release(),
        "machine": platform.machine(), "cpus": os.cpu_count(), "sysvisor": sv_where,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    md: list[str] = []
    md.append(f"**Command:** `{cmdline}`  ")
    md.append(f"{report['date']}; Linux {report['kernel']} {report['machine']}, "
              f"{report['cpus']} CPUs, Python {report['python']}; sysvisor from "
              f"`{sv_where or 'not importable'}`  ")
    md.append(f"{rounds} interleaved rounds (rotated order), medians; "
              + (f"every variant pinned with `taskset -c {args.pin}` (tracer and tracee on one CPU)"
                 if prefix else "unpinned (scheduler places tracer and tracee)") + ".")
    md.append("")

    with tempfile.TemporaryDirectory(prefix="sysvisor-bench-") as tmp:
        # ---- (a) getpid
        if args.only in (None, "getpid"):
            md.append(f"### (a) getpid: per-intercepted-call latency (N = {n_getpid})")
            md.append("")
            vs, skip = build_getpid(tmp, n_getpid)
            if skip:
                log(skip)
                md.append(f"_Skipped: {skip.splitlines()[0]}_")
            else:
                for v in vs:
                    if v.kind == "child" and sv_skip:
                        v.skip = sv_skip
                    elif v.skip is None:
                        preflight(v, prefix, env, tmp, _shrink_getpid)
                        if v.skip:
                            log(f"  [getpid] {v.name}: {v.skip}")
                run_rounds("getpid", vs, rounds, prefix, env, tmp, log)
                table, summ = getpid_table(vs, n_getpid)
                md += table
                md.append("")
                md.append("µs per intercepted call = (traced loop time − native loop time of the "
                          "same round) / N, median over rounds; the loop is timed inside the "
                          "program (CLOCK_MONOTONIC), so start-up and exec are not in it. "
                          "Python µs per stop: median of `Session.stop_ns` (all stops of the run). "
                          "`ptrace` stops twice per call (entry and exit), `seccomp` once. "
                          "The strace row is a reference for the kernel's stop cost: strace "
                          "traces each getpid (entry and exit stop) but does not answer it.")
                report["getpid"] = {"summary": summ,
                                    "samples": {v.name: v.samples for v in vs},
                                    "skipped": {v.name: v.skip for v in vs if v.skip}}
            md.append("")

        # ---- (b) sh loop
        if args.only in (None, "shloop"):
            md.append(f"### (b) sh loop: `sh -c '{sh_loop_script(loops)}'` (LANG=C)")
            md.append("")
            vs = build_shloop(loops)
            for v in vs:
                if ("sysvisor" in v.name or v.name.startswith("CLI")) and sv_skip:
                    v.skip = sv_skip
                elif v.skip is None:
                    preflight(v, prefix, env, tmp, _shrink_shloop)
                    if v.skip:
                        log(f"  [shloop] {v.name}: {v.skip}")
            run_rounds("shloop", vs, rounds, prefix, env, tmp, log)
            table, summ = shloop_table(vs, loops)
            md += table
            md.append("")
            md.append("Each variant is one whole process timed from outside (sysvisor rows include "
                      "Python start-up and `import sysvisor`; the last row shows that cost alone). "
                      "LANG=C in every variant (glibc then opens no per-category locale files: "
                      "fewer openat calls per `cat`), plus PYTHONCOERCECLOCALE=0 so the Python-based "
                      "rows do not hand LC_CTYPE=C.UTF-8 down to the tracee. The sysvisor rows watch openat with a layer "
                      "that reads the path and lets the call through (no exit stop); the CLI row "
                      "also formats a trace line and takes an exit stop per call, like strace.")
            md.append("")
            rom, per = key_ratio(vs, "sysvisor seccomp")
            if rom is not None:
                verdict = "PASS" if per <= 0.9 else "FAIL"
                md.append(f"**Key ratio, sysvisor seccomp / strace (sh loop): {rom:.2f}** "
                          f"(median of per-round ratios {per:.2f}); target ≤ 0.90: **{verdict}**  ")
            else:
                md.append("**Key ratio, sysvisor seccomp / strace: not available** "
                          "(a row was skipped or failed)  ")
            urom, uper = key_ratio(vs, "sysvisor unotify")
            if urom is not None:
                md.append(f"sysvisor unotify / strace: {urom:.2f} (per-round median {uper:.2f}): no "
                          "ptrace, so no fork-event, child-start or signal-delivery stops  ")
            crom, cper = key_ratio(vs, "CLI trace --method seccomp")
            if crom is not None:
                md.append(f"CLI trace (seccomp) / strace: {crom:.2f} (per-round median {cper:.2f})")
            report["shloop"] = {"summary": summ, "key_ratio_seccomp_strace": rom,
                                "key_ratio_per_round_median": per,
                                "cli_strace_ratio": crom,
                                "samples": {v.name: v.samples for v in vs},
                                "skipped": {v.name: v.skip for v in vs if v.skip}}
            md.append("")

        # ---- (c) tracing to a file (issue #3)
        if args.only in (None, "trace"):
            md.append(f"### (c) tracing the sh loop to a file: -f -e trace=%file (seq {loops}, LANG=C)")
            md.append("")
            vs = build_trace(loops, tmp)
            for v in vs:
                if "sysvisor" in v.name and sv_skip:
                    v.skip = sv_skip
                elif v.skip is None:
                    preflight(v, prefix, env, tmp, _shrink_shloop)
                    if v.skip:
                        log(f"  [trace] {v.name}: {v.skip}")
            run_rounds("trace", vs, rounds, prefix, env, tmp, log)
            table, summ = trace_table(vs)
            md += table
            md.append("")
            ratios = []
            for name in (vs[2].name, vs[3].name):
                a, b = {x["round"]: x["wall_ns"] for x in next(v for v in vs if v.name == name).samples
                        if "error" not in x}, {x["round"]: x["wall_ns"] for x in vs[1].samples if "error" not in x}
                if a and b:
                    r = median([a[k] / b[k] for k in a if k in b])
                    ratios.append(r)
                    md.append(f"**{name} / strace: {r:.2f}** (median of per-round ratios; target ≤ 0.90)  ")
            report["trace"] = {"summary": summ, "samples": {v.name: v.samples for v in vs},
                               "ratios": ratios}
            md.append("")

    text = "\n".join(md)
    print(text)
    report["markdown"] = text
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"(all samples written to {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
