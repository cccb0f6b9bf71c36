#!/usr/bin/env python3
"""Generate sysvisor's per-architecture syscall tables (stdlib only).

Usage:
    python tools/gen_syscall_tables.py [--out DIR]

Writes ``x86_64.py``, ``i386.py`` and ``aarch64.py`` (plain data, no logic)
into DIR, by default ``src/sysvisor/tables``, and prints a summary (counts,
syscalls without a known prototype, syscalls without a class source) to
stderr.  The output is deterministic: re-running it reproduces the committed
modules byte for byte (tests/test_tables.py checks this).

Target: the Linux 6.18 syscall ABI.

Sources (all committed under tools/data/, kernel and strace files kept exactly
as fetched; the "commit" is the git object the code-search index returned):

* ``syscall_64.tbl`` -- x86_64 numbers.  ``arch/x86/entry/syscalls/
  syscall_64.tbl`` from the GitHub repository nhatz11/linux-6.17 at commit
  4a5ef95fed3733e9ef3fd96f3ad9823f98efa99d (a Linux 6.17 tree).  The index
  did not hold a 6.17/6.18 copy of that file from torvalds/linux itself (its
  newest stored torvalds copy, 7237cb3e1544, stops at 462 mseal); the lines
  0-462 of the two copies are identical.  ABIs used: ``common`` and ``64``
  (``x32`` entries 512-547 are skipped).
* ``syscall_32.tbl`` -- i386 numbers.  ``arch/x86/entry/syscalls/
  syscall_32.tbl`` from kakra/linux at commit
  8ee81d491425cf9d426ffba56cc1c82562916b1d (a 6.17+ tree).  ABI ``i386``.
* ``syscall.tbl`` -- the generic table used by arm64 since Linux 6.11.
  ``tools/scripts/syscall.tbl`` (the tools/ copy of ``scripts/syscall.tbl``)
  from torvalds/linux at commit 42d3b66d4cdbacfc9d120d2301b8de89cc29a914
  (post-6.18: it already has 470 listns).
* ``Makefile.syscalls.arm64`` -- ``arch/arm64/kernel/Makefile.syscalls`` from
  torvalds/linux at commit 41f55dd84d5ce205bb3d486e6847e49d7e1e034a.  Its
  ``syscall_abis_64`` line is parsed: aarch64 uses the ABIs ``common``,
  ``64`` plus ``renameat newstat rlimit memfd_secret`` (scripts/
  Makefile.asm-headers always adds ``common`` and ``64`` for 64-bit).
* ``fixups-6.18.txt`` -- HAND-KEPT: the few edits that turn the fetched tables
  into the 6.18 tables (drop out-of-tree lines of the downstream trees, drop
  listns which is 6.19, add x86_64 336 uprobe which is new in 6.18).  Each
  line carries its justification.
* ``syscalls.h`` -- ``include/linux/syscalls.h`` from kakra/linux at commit
  0ea2bd3d990933fb0efa9a91e3928758d291eb1f (a ~5.10-era copy; the index held
  no 6.x copy).  Every ``asmlinkage long sys_NAME(type name, ...);``
  prototype is parsed; ``__user`` is dropped and whitespace normalised.
* ``prototypes-extra.h`` -- HAND-KEPT prototypes in the same syntax, written
  by hand after the kernel's SYSCALL_DEFINEx() definitions (not fetched), for (a) syscalls newer than
  that syscalls.h, (b) arch-specific entry points not declared in the generic
  header (x86 ``sys_mmap``, ``sys_arch_prctl``, ``sys_ia32_*`` split-64-bit
  wrappers, ``sys_rt_sigreturn`` ...), (c) prototypes the header declares
  without parameter names (socket calls, ppoll, pselect6, rt_sigaction ...).
  An entry there replaces the header's.
* clone: the argument order differs per arch.  x86_64 uses the default order
  ``clone(flags, newsp, parent_tidptr, child_tidptr, tls)``; i386 and arm64
  select CONFIG_CLONE_BACKWARDS: ``clone(flags, newsp, parent_tidptr, tls,
  child_tidptr)`` (see kernel/fork.c and clone(2)).  Chosen in
  ``CLONE_ARGS`` below.
* Syscalls whose table entry has no entry point (e.g. x86_64 ``tuxcall``,
  ``uselib`` since 6.x) or whose entry point is ``sys_ni_syscall`` are kept
  (their numbers are reserved and callable, returning ENOSYS) with no
  arguments.

Classes (strace's trace classes):

* ``strace_x86_64_syscallent.h`` -- ``src/linux/x86_64/syscallent.h`` from
  strace/strace at commit 19277b86698b4412ddd8a1277f36a48b27011f76 (covers
  0-334; it ``#include``s syscallent-common.h for 424+, which the index did
  not have).  Flags are looked up by syscall *name* and applied to every arch.
* ``sysent_shorthand_defs.h`` -- ``src/sysent_shorthand_defs.h`` from
  strace/strace at commit 411850990bf2bad3971e8e40b6ef1a59c15ef476, the
  meaning of the flag shorthands.
* ``classes.txt`` -- HAND-KEPT flags for names the strace file above does not
  cover (424+, x86_64 335/336, i386-only names), written by hand following
  strace's conventions (not fetched).  Replaces strace flags for the names
  it lists.

Flag -> class mapping: TF file, TD desc, TN network, TP process, TS signal,
TI ipc, TM memory, TC creds, TCL clock, TST stat, TLST lstat, TFST fstat,
TSF/TFSF/TSFA statfs, PU pure.  TSTA (TRACE_STAT_LIKE, strace's ``%%stat``
union) adds nothing: it is always paired with TST, TLST or TFST.  Non-class
flags (NF, MA, SI, SE, CST, TSD, CC) are ignored.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "src", "sysvisor", "tables")

HEADER = "# generated by tools/gen_syscall_tables.py \u2014 do not edit\n"

ARCHES = {
    # arch: (table file, audit arch, abis or None to read Makefile.syscalls)
    "x86_64": ("syscall_64.tbl", 0xC000003E, ("common", "64")),
    "i386": ("syscall_32.tbl", 0x40000003, ("i386",)),
    "aarch64": ("syscall.tbl", 0xC00000B7, None),
}

FLAG_CLASSES = {
    "TF": ("file",),
    "TD": ("desc",),
    "TN": ("network",),
    "TP": ("process",),
    "TS": ("signal",),
    "TI": ("ipc",),
    "TM": ("memory",),
    "TC": ("creds",),
    "TCL": ("clock",),
    "TST": ("stat",),
    "TLST": ("lstat",),
    "TFST": ("fstat",),
    "TSF": ("statfs",),
    "TFSF": ("statfs",),
    "TSFA": ("statfs",),
    "PU": ("pure",),
}
IGNORED_FLAGS = {"TSTA", "NF", "MA", "SI", "SE", "CST", "TSD", "CC", "0"}
CLASS_ORDER = ("file", "desc", "network", "process", "signal", "ipc", "memory",
               "creds", "clock", "stat", "lstat", "fstat", "statfs", "pure")

_CLONE_DEFAULT = ("unsigned long clone_flags", "unsigned long newsp",
                  "int *parent_tidptr", "int *child_tidptr", "unsigned long tls")
_CLONE_BACKWARDS = ("unsigned long clone_flags", "unsigned long newsp",
                    "int *parent_tidptr", "unsigned long tls", "int *child_tidptr")
CLONE_ARGS = {"x86_64": _CLONE_DEFAULT, "i386": _CLONE_BACKWARDS,
              "aarch64": _CLONE_BACKWARDS}

_TYPE_WORDS = {"int", "long", "unsigned", "char", "short", "size_t", "u32",
               "u64", "__u32", "__s32", "void", "const", "struct", "union"}


def read(name: str) -> str:
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.read()


# ---------------------------------------------------------------- tables ----

def parse_tbl(text: str) -> list[tuple[int, str, str, str | None]]:
    rows = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        f = line.split()
        nr, abi, name = int(f[0]), f[1], f[2]
        entry = f[3] if len(f) > 3 and f[3] != "-" else None
        rows.append((nr, abi, name, entry))
    return rows


def apply_fixups(table: str, rows: list) -> list:
    out = list(rows)
    for line in read("fixups-6.18.txt").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        f = line.split()
        if f[0] != table:
            continue
        if f[1] == "del":
            nr, name = int(f[2]), f[3]
            before = len(out)
            out = [r for r in out if not (r[0] == nr and r[2] == name)]
            if len(out) == before:
                raise SystemExit(f"fixup {line!r}: no such entry")
        elif f[1] == "add":
            nr, abi, name, entry = int(f[2]), f[3], f[4], f[5]
            if any(r[0] == nr and r[1] == abi for r in out):
                raise SystemExit(f"fixup {line!r}: entry already present")
            out.append((nr, abi, name, entry))
        else:
            raise SystemExit(f"bad fixup line {line!r}")
    return out


def arm64_abis() -> tuple[str, ...]:
    abis = ["common", "64"]
    for line in read("Makefile.syscalls.arm64").splitlines():
        m = re.match(r"\s*syscall_abis_64\s*\+?=\s*(.*)$", line)
        if m:
            abis += m.group(1).split()
    return tuple(abis)


# ------------------------------------------------------------ prototypes ----

def norm_arg(arg: str) -> str:
    s = re.sub(r"\b__user\b", " ", arg)
    s = " ".join(s.split())
    s = re.sub(r"\s*\*\s*", "*", s)
    s = re.sub(r"(?<=\w)\*", " *", s)
    return s.strip()


def is_unnamed(arg: str) -> bool:
    if arg.endswith("*"):
        return True
    words = arg.replace("*", " ").split()
    if len(words) == 1:
        return True
    if words[-1] in _TYPE_WORDS or words[0] in ("struct", "union") and len(words) == 2:
        return True
    return False


def parse_protos(text: str) -> dict[str, tuple[str, ...]]:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    protos: dict[str, tuple[str, ...]] = {}
    for m in re.finditer(r"asmlinkage\s+long\s+(sys_\w+)\s*\(([^)]*)\)\s*;", text):
        name, body = m.group(1), " ".join(m.group(2).split())
        if body in ("", "void"):
            args: tuple[str, ...] = ()
        else:
            args = tuple(norm_arg(a) for a in body.split(","))
        protos.setdefault(name, args)
    return protos


# --------------------------------------------------------------- classes ----

def flags_to_classes(flags: str) -> tuple[str, ...]:
    got = set()
    for fl in flags.replace(" ", "").split("|"):
        if fl in FLAG_CLASSES:
            got.update(FLAG_CLASSES[fl])
        elif fl not in IGNORED_FLAGS:
            raise SystemExit(f"unknown strace flag {fl!r}")
    return tuple(c for c in CLASS_ORDER if c in got)


def load_classes() -> dict[str, tuple[str, ...]]:
    defs = read("sysent_shorthand_defs.h")
    for fl in list(FLAG_CLASSES) + ["TSTA"]:
        if not re.search(rf"#\s*define\s+{fl}\s+TRACE_", defs):
            raise SystemExit(f"{fl} not defined in sysent_shorthand_defs.h")
    classes: dict[str, tuple[str, ...]] = {}
    pat = re.compile(r"\[\s*(\d+)\]\s*=\s*\{\s*(\d+),\s*([^,]+),\s*SEN\(\w+\),\s*\"(\w+)\"")
    for m in pat.finditer(read("strace_x86_64_syscallent.h")):
        classes[m.group(4)] = flags_to_classes(m.group(3))
    for line in read("classes.txt").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, flags = line.split()
            classes[name] = flags_to_classes(flags)
    return classes


# ------------------------------------------------------------------ main ----

def build(arch: str, protos, classes, report) -> list:
    tbl, _audit, abis = ARCHES[arch]
    if abis is None:
        abis = arm64_abis()
    rows = apply_fixups(tbl, parse_tbl(read(tbl)))
    rows = [r for r in rows if r[1] in abis]
    out = []
    for nr, _abi, name, entry in sorted(rows):
        if name == "clone":
            args = CLONE_ARGS[arch]
        elif entry is None or entry == "sys_ni_syscall":
            args = ()
            report["unimplemented"].append(f"{arch}:{name}")
        elif entry in protos:
            args = protos[entry]
            if any(is_unnamed(a) for a in args):
                report["unnamed"].append(f"{arch}:{name}({entry})")
                args = tuple(a if not is_unnamed(a) else f"{a} arg{i}"
                             for i, a in enumerate(args))
        else:
            args = ()
            report["noproto"].append(f"{arch}:{name}({entry})")
        if name not in classes:
            report["noclass"].append(f"{arch}:{name}")
        out.append((nr, name, args, classes.get(name, ())))
    return out


def render(arch: str, rows: list) -> str:
    lines = [HEADER, f'"""Linux 6.18 {arch} syscall table."""\n\n',
             f"AUDIT_ARCH = {ARCHES[arch][1]:#010x}\n\n", "SYSCALLS = (\n"]
    for nr, name, args, cls in rows:
        lines.append(f"    ({nr}, {name!r}, {args!r}, {cls!r}),\n")
    lines.append(")\n")
    return "".join(lines).replace("'", '"')


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory")
    ap.add_argument("-q", "--quiet", action="store_true", help="no summary")
    ns = ap.parse_args(argv)
    protos = parse_protos(read("syscalls.h"))
    protos.update(parse_protos(read("prototypes-extra.h")))
    classes = load_classes()
    report = {"noproto": [], "unnamed": [], "unimplemented": [], "noclass": []}
    os.makedirs(ns.out, exist_ok=True)
    counts = {}
    for arch in ARCHES:
        rows = build(arch, protos, classes, report)
        counts[arch] = len(rows)
        with open(os.path.join(ns.out, f"{arch}.py"), "w", encoding="utf-8",
                  newline="\n") as f:
            f.write(render(arch, rows))
    if not ns.quiet:
        err = sys.stderr
        for arch, n in counts.items():
            print(f"{arch}: {n} syscalls", file=err)
        for key, title in (("noproto", "no prototype known (empty args)"),
                           ("unnamed", "unnamed parameters (named argN)"),
                           ("unimplemented", "no entry point / sys_ni_syscall (empty args)"),
                           ("noclass", "no class source (empty classes)")):
            items = report[key]
            print(f"{title}: {len(items)}", file=err)
            for it in items:
                print(f"  {it}", file=err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
