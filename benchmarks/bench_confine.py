#!/usr/bin/env python3
"""Confinement benchmark: sysvisor's Confine layer on unotify against proot.

    python benchmarks/bench_confine.py [--rounds N] [--pin CPU] [--quick] [--tree copy|binds]
                                       [--json FILE]

The sh loop of the core benchmarks, `sh -c 'for i in $(seq 1000); do cat
/etc/passwd >/dev/null; done'` (LANG=C), runs confined to a root directory:

  --tree copy   (default) a copy of the needed parts of /: sh, seq, cat and
                the libraries `ldd` lists, the ELF loader, /etc/passwd,
                /etc/ld.so.cache, merged-/usr symlinks (bin -> usr/bin, ...),
                and /dev bound from the host (for /dev/null);
  --tree binds  an almost empty root (etc, merged-/usr symlinks) with the
                host's /usr bound read-only at /usr and /dev at /dev.

Variants, each one whole process timed from outside:
  native                      the loop, unconfined, on the host's files
  proot -r ROOT [-b ...]      proot (ptrace + seccomp acceleration)
  sysvisor run --root ROOT    the CLI: Confine + the bypass denials, unotify
  sysvisor Confine (API)      a fresh Python process running a Session with
                              Confine + Policy(confinement_denials()) on
                              unotify, measure=True (stops, Python time per stop)

Rounds are interleaved (order rotated each round), medians, ratios to
native and to proot from the same run; `--pin CPU` prefixes every variant
with `taskset -c CPU`. The key figure is sysvisor / proot (target <= 0.5).
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
sys.path.insert(0, HERE)
import bench_core as core  # noqa: E402  (the shared runner: Variant, rounds, preflight)
from bench_core import Variant, median  # noqa: E402

SCRIPT = os.path.abspath(__file__)
PROGRAMS = ("sh", "seq", "cat")
USR_LINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}


def loop_script(n: int) -> str:
    return f"for i in $(seq {n}); do cat /etc/passwd >/dev/null; done"


def bench_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("LC_") or k in ("LANG", "LANGUAGE"))}
    env.update(LANG="C", PYTHONCOERCECLOCALE="0", PATH="/usr/bin:/bin")
    return env


# ---------------------------------------------------------------- the tree

def _libs(exe: str) -> list[str]:
    """The shared objects `ldd` lists for exe (the loader included)."""
    out = subprocess.run(["ldd", exe], capture_output=True, text=True, check=True).stdout
    paths = []
    for line in out.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("/"):
                paths.append(p)
                break
    return paths


def _copy_into(root: str, path: str) -> None:
    """Copy host file `path` to the same place under root. Directories are
    taken at their real path (merged /usr: /lib/x -> usr/lib/x, through the
    tree's own symlinks); a symlink at the end is copied as a symlink, and
    its target too (/usr/bin/sh -> dash, /usr/lib64/ld-linux... -> ../lib/...)."""
    d = os.path.realpath(os.path.dirname(path))
    p = os.path.join(d, os.path.basename(path))
    dst = os.path.join(root, p.lstrip("/"))
    if os.path.lexists(dst):
        return
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.islink(p):
        target = os.readlink(p)
        os.symlink(target, dst)
        _copy_into(root, os.path.join(d, target))
    else:
        shutil.copy2(p, dst)


def build_tree(root: str, mode: str) -> list[tuple[str, str, bool]]:
    """Make the root; return the binds (host, guest, readonly) both tools use."""
    os.makedirs(os.path.join(root, "etc"))
    os.makedirs(os.path.join(root, "dev"))
    os.makedirs(os.path.join(root, "tmp"))
    for name, target in USR_LINKS.items():
        os.symlink(target, os.path.join(root, name))
    for f in ("/etc/passwd", "/etc/ld.so.cache"):
        shutil.copy2(f, os.path.join(root, f.lstrip("/")))
    binds = [("/dev", "/dev", False)]
    if mode == "binds":
        return [("/usr", "/usr", True)] + binds
    os.makedirs(os.path.join(root, "usr", "bin"))
    for prog in PROGRAMS:
        exe = shutil.which(prog, path="/usr/bin:/bin")
        _copy_into(root, exe)
        for lib in _libs(exe):
            _copy_into(root, lib)
    return binds


# ---------------------------------------------------------------- child mode

def child_main(root: str, binds: list[str], out: str, argv: list[str]) -> int:
    import sysvisor
    from sysvisor.layers.confine import Confine
    from sysvisor.layers.policy import Policy, confinement_denials

    bl = []
    for b in binds:
        host, guest, ro = b.split(":")
        bl.append((host, guest, ro == "ro"))
    t0 = time.perf_counter_ns()
    s = sysvisor.Session([Policy(confinement_denials()), Confine(root=root, binds=bl, cwd="/")],
                         method="unotify", measure=True)
    s.spawn(argv, env=bench_env())
    status = s.run()
    wall = time.perf_counter_ns() - t0
    ns = sorted(s.stop_ns)
    with open(out, "w") as f:
        json.dump({"status": status, "inner_wall_ns": wall, "stops": s.stops, "py_stops": len(ns),
                   "stop_ns_median": statistics.median(ns) if ns else None,
                   "stop_ns_p90": ns[int(len(ns) * 0.9)] if ns else None,
                   "errors": [repr(e) for e in s.errors][:5]}, f)
    return status


# ---------------------------------------------------------------- driver

def build_variants(root: str, binds, loops: int) -> list[Variant]:
    sh = ["/bin/sh", "-c", loop_script(loops)]
    vs = [Variant("native", ["/bin/sh", "-c", loop_script(loops)], "external")]
    proot = [shutil.which("proot") or "proot", "-r", root, "-w", "/"]
    for host, guest, _ro in binds:
        proot += ["-b", f"{host}:{guest}"]  # proot has no read-only binds
    v = Variant("proot -r ROOT", proot + sh, "external")
    if shutil.which("proot") is None:
        v.skip = "proot not found (apt-get install proot)"
    vs.append(v)
    cli = [sys.executable, "-m", "sysvisor", "run", "--root", root]
    for host, guest, ro in binds:
        cli += ["--ro-bind" if ro else "--bind", f"{host}:{guest}"]
    vs.append(Variant("sysvisor run --root ROOT", cli + ["--"] + sh, "external"))
    spec = [f"{h}:{g}:{'ro' if ro else 'rw'}" for h, g, ro in binds]
    vs.append(Variant("sysvisor Confine (API)",
                      [sys.executable, SCRIPT, "--child", "--root", root, "--out", "{OUT}",
                       *[f"--bind={b}" for b in spec], "--"] + sh, "child"))
    return vs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 5, --quick 3)")
    ap.add_argument("--pin", metavar="CPU", help="run every variant under `taskset -c CPU`")
    ap.add_argument("--quick", action="store_true", help="seq 100, 3 rounds")
    ap.add_argument("--tree", choices=("copy", "binds"), default="copy")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    ap.add_argument("--bind", action="append", default=[], help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        return child_main(args.root, args.bind, args.out, cmd)

    rounds = args.rounds or (3 if args.quick else 5)
    loops = 100 if args.quick else 1000
    prefix = ["taskset", "-c", str(args.pin)] if args.pin is not None else []
    env = bench_env()

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="sysvisor-bench-confine-") as tmp:
        os.chmod(tmp, 0o755)
        root = os.path.join(tmp, "root")
        binds = build_tree(root, args.tree)
        vs = build_variants(root, binds, loops)
        for v in vs:  # preflight: a broken variant becomes a clear skip
            if v.skip is None:
                core.preflight(v, prefix, env, tmp, _shrink)
                if v.skip:
                    log(f"  {v.name}: {v.skip}")
        core.run_rounds("confine", vs, rounds, prefix, env, tmp, log)

    def walls(v):
        return {s["round"]: s["wall_ns"] for s in v.samples if "error" not in s}

    by = {v.name: v for v in vs}
    nat, pr = walls(by["native"]), walls(by["proot -r ROOT"])
    cmd = " ".join(shlex.quote(a) for a in ["python", os.path.relpath(SCRIPT)] + sys.argv[1:])
    md = [f"**Command:** `{cmd}`  ",
          f"{time.strftime('%Y-%m-%d')}; Linux {platform.release()}, {os.cpu_count()} CPUs; "
          f"tree: {args.tree}; {rounds} interleaved rounds, medians; "
          + (f"pinned with `taskset -c {args.pin}`" if prefix else "unpinned") + "  ",
          f"Loop: `sh -c '{loop_script(loops)}'` (LANG=C)", "",
          "| variant | wall, median (s) | × native | × proot (per-round median) "
          "| stops (in Python) | Python µs per Python stop, median (p90) |",
          "|---|---:|---:|---:|---:|---:|"]
    summary = {}
    for v in vs:
        if v.skip:
            md.append(f"| {v.name} | skipped: {v.skip} | | | | |")
            continue
        w = walls(v)
        if not w:
            md.append(f"| {v.name} | failed: {v.samples[0].get('error', '?')[:150]} | | | | |")
            continue
        m = median(w.values())
        xn = median([w[r] / nat[r] for r in w if r in nat])
        xp = median([w[r] / pr[r] for r in w if r in pr])
        ok = [s for s in v.samples if "error" not in s]
        child = v.kind == "child"
        stops = (f"{median([s.get('stops') for s in ok]):.0f} "
                 f"({median([s.get('py_stops') for s in ok]):.0f})") if child else None
        py = (f"{median([s['stop_ns_median'] for s in ok]) / 1000:.1f} "
              f"({median([s['stop_ns_p90'] for s in ok]) / 1000:.1f})") if child else "–"
        md.append(f"| {v.name} | {m / 1e9:.3f} | {xn:.2f} | "
                  + (f"{xp:.2f}" if xp is not None else "–")
                  + f" | {stops if stops is not None else '–'} | {py} |")
        summary[v.name] = {"wall_ns_median": m, "x_native": xn, "x_proot": xp}
    key = summary.get("sysvisor run --root ROOT", {}).get("x_proot")
    if key is not None:
        md += ["", f"**sysvisor run --root / proot: {key:.2f}** (median of per-round ratios); "
                   f"target ≤ 0.50: **{'PASS' if key <= 0.5 else 'FAIL'}**"]
    print("\n".join(md))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "samples": {v.name: v.samples for v in vs},
                       "skipped": {v.name: v.skip for v in vs if v.skip}, "markdown": md}, f,
                      indent=1)
    return 0


def _shrink(argv):
    return argv[:-1] + [loop_script(2)]


if __name__ == "__main__":
    sys.exit(main())
