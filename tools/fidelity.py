#!/usr/bin/env python3
"""Compare `sysvisor trace` with strace, line by line, on real programs.

For each program below, the same command runs under
`strace -f -qq -o A` and under `sysvisor trace -f -o B` (same environment:
LANG=C, same working directory, fresh for each run). Both outputs are
parsed into per-process sequences of syscalls (unfinished/resumed halves
are joined; processes are matched by order of appearance) and aligned
with difflib. Two figures are reported:

  names+retvals  share of syscalls whose (name, return value) agree,
                 2*matches / (len(strace) + len(sysvisor)) over all
                 processes;
  decoded        among the aligned syscalls, the share whose whole line
                 (arguments and return value) is identical.

Run-to-run noise is normalised on both sides before comparing: addresses
(0x...), pids and tids (mapped by order of appearance), the bytes
getrandom returns, times from clock_gettime and friends, temporary names.

Usage: python tools/fidelity.py [--method seccomp|ptrace] [--only NAME] [--show N] [--json FILE]
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")

PROGRAMS = [
    ("cat", ["cat", "/etc/hostname"]),
    ("ls", ["ls", "-l", "/etc/default"]),
    ("wc", ["wc", "-l", "/etc/passwd"]),
    ("stat", ["stat", "/etc/passwd"]),
    ("id", ["id"]),
    ("cp+rm", ["sh", "-c", "cp /etc/passwd ./p && chmod 600 ./p && rm ./p"]),
    ("mkdir", ["sh", "-c", "mkdir -p a/b/c && ln -s a/b l && readlink l && rm -r a l"]),
    ("pipeline", ["sh", "-c", "cat /etc/passwd | tr a-z A-Z | sort | head -n 3 > out && wc -c out"]),
    ("python3", ["python3", "-c", "import os, json; print(json.dumps(sorted(os.listdir('/etc'))[:3]))"]),
    ("git-init", ["git", "init", "-q", "repo"]),
    ("tar", ["sh", "-c", "mkdir -p t/d && echo hi > t/d/f && tar cf t.tar t && tar tf t.tar"]),
    ("gcc", ["sh", "-c", "printf 'int main(void){return 0;}\\n' > m.c && gcc -c m.c -o m.o"]),
]

_LINE = re.compile(r"^(\d+)\s+(.*)$")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
_HEX = re.compile(r"0x[0-9a-f]+")
_RET = re.compile(r"\)\s+= (.*)$")
PID_CALLS = {"clone", "clone3", "fork", "vfork", "wait4", "waitid", "getpid", "gettid",
             "getppid", "set_tid_address", "kill", "tgkill", "tkill"}


def parse(path: str):
    """-> {pid: [(name, ret, line)]} in order, plus the pid order."""
    procs: dict[int, list] = {}
    pending: dict[int, str] = {}
    order: list[int] = []
    with open(path, errors="replace") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            m = _LINE.match(raw)
            if not m:
                continue
            pid, text = int(m.group(1)), m.group(2)
            if pid not in procs:
                procs[pid] = []
                order.append(pid)
            if text.startswith(("---", "+++")):
                continue
            if text.endswith("<unfinished ...>"):
                pending[pid] = text[: -len("<unfinished ...>")].rstrip()
                continue
            r = _RESUMED.match(text)
            if r:
                head = pending.pop(pid, r.group(1) + "(")
                if not head.endswith("(") and not head.endswith(", ") and r.group(2)[:1] not in (")", ","):
                    head += " "
                text = head + r.group(2)
            m2 = _RET.search(text)
            name = text.split("(", 1)[0]
            if not m2:
                continue
            procs[pid].append((name, m2.group(1), re.sub(r"\)\s+= ", ") = ", text)))
    return procs, order


def normalise(entries, pidmap):
    out = []
    for name, ret, line in entries:
        for real, fake in pidmap.items():
            line = re.sub(rf"\b{real}\b", fake, line)
            ret = re.sub(rf"\b{real}\b", fake, ret)
        line = _HEX.sub("0xADDR", line)
        ret = _HEX.sub("0xADDR", ret)
        if name == "getrandom":
            line = re.sub(r'getrandom\(".*?"(\.\.\.)?,', 'getrandom("RANDOM",', line)
        if name in ("clock_gettime", "gettimeofday", "clock_nanosleep", "nanosleep", "time"):
            line = re.sub(r"tv_(sec|nsec|usec)=\d+", r"tv_\1=N", line)
            ret = re.sub(r"^\d{9,}$", "N", ret)
        if name == "sysinfo":
            line = re.sub(r"=\d+", "=N", line)
        line = re.sub(r"/tmp/cc[A-Za-z0-9]{6}", "/tmp/ccTEMP", line)
        if name in ("newfstatat", "fstat", "stat", "lstat", "statx"):
            line = re.sub(r"(st|stx)_(a|m|c|btime)(_nsec)?=[^,}]+", r"\1_\2\3=T", line)
        out.append((name, ret, line))
    return out


def compare(a_path: str, b_path: str, show: int = 0):
    a, a_order = parse(a_path)
    b, b_order = parse(b_path)
    total = matched = same = 0
    diffs = []
    amap = {str(p): f"PID{i}" for i, p in enumerate(a_order)}
    bmap = {str(p): f"PID{i}" for i, p in enumerate(b_order)}
    for i in range(max(len(a_order), len(b_order))):
        sa = normalise(a[a_order[i]], amap) if i < len(a_order) else []
        sb = normalise(b[b_order[i]], bmap) if i < len(b_order) else []
        sm = difflib.SequenceMatcher(None, [x[:2] for x in sa], [x[:2] for x in sb], autojunk=False)
        total += len(sa) + len(sb)
        for blk in sm.get_matching_blocks():
            for k in range(blk.size):
                matched += 1
                la, lb = sa[blk.a + k][2], sb[blk.b + k][2]
                if la == lb:
                    same += 1
                elif len(diffs) < show:
                    diffs.append((la, lb))
    names = 2 * matched / total if total else 1.0
    decoded = same / matched if matched else 1.0
    return names, decoded, matched, total, diffs


def run_one(name, argv, method, show, workroot):
    # both tools get the same environment and the same (recreated) directory
    env = dict(os.environ, LANG="C", LC_ALL="C",
               PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("LC_CTYPE", None)
    wd = os.path.join(workroot, name)
    outs = {}
    for tool in ("strace", "sysvisor"):
        shutil.rmtree(wd, ignore_errors=True)
        os.makedirs(wd)
        out = os.path.join(workroot, f"{name}.{tool}.txt")
        if tool == "strace":
            cmd = ["strace", "-f", "-qq", "-o", out, "--", *argv]
        else:
            cmd = [sys.executable, "-m", "sysvisor", "trace", "-f", "--method", method, "-o", out, "--", *argv]
        subprocess.run(cmd, cwd=wd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        outs[tool] = out
    return compare(outs["strace"], outs["sysvisor"], show)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="seccomp")
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--show", type=int, default=0, help="print up to N differing line pairs per program")
    ap.add_argument("--json", help="write the figures as JSON")
    a = ap.parse_args()
    if shutil.which("strace") is None:
        print("strace is not installed: nothing to compare against", file=sys.stderr)
        return 2
    rows = []
    tot_m = tot_t = tot_same = 0
    with tempfile.TemporaryDirectory() as root:
        for name, argv in PROGRAMS:
            if a.only and name not in a.only:
                continue
            if shutil.which(argv[0]) is None:
                print(f"skip {name}: {argv[0]} not installed", file=sys.stderr)
                continue
            names, decoded, matched, total, diffs = run_one(name, argv, a.method, a.show, root)
            rows.append({"program": name, "names_retvals": names, "decoded": decoded,
                         "syscalls": total // 2})
            tot_m += matched
            tot_t += total
            tot_same += decoded * matched
            for la, lb in diffs:
                print(f"  [{name}] strace:   {la}\n  [{name}] sysvisor: {lb}")
    print(f"{'program':<10} {'syscalls':>8} {'names+retvals':>14} {'decoded':>8}")
    for r in rows:
        print(f"{r['program']:<10} {r['syscalls']:>8} {100 * r['names_retvals']:>13.2f}% {100 * r['decoded']:>7.2f}%")
    names = 2 * tot_m / tot_t if tot_t else 1.0
    decoded = tot_same / tot_m if tot_m else 1.0
    print(f"{'total':<10} {tot_t // 2:>8} {100 * names:>13.2f}% {100 * decoded:>7.2f}%")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"method": a.method, "rows": rows, "names_retvals": names, "decoded": decoded}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
