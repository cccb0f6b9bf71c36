"""`sysvisor doctor`: what this kernel offers, and which methods can run here.

Prints the kernel version, a table of probed kernel features and a table
of interception methods (usable or not, and why).  ``--json`` prints the
same as one JSON object.  Always exits 0: a missing feature is a finding,
not an error.

Mount it as a subcommand with ``add_arguments(subparser)`` and
``run(args)``, or run it alone with ``main(argv)``.
"""

from __future__ import annotations

import argparse
import sys

PROG = "sysvisor doctor"
HELP = "show which kernel features and interception methods are available"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the results as one JSON object")


def _marks(stream) -> tuple[str, str]:
    enc = getattr(stream, "encoding", None) or "ascii"
    try:
        "✓✗".encode(enc)
        return "✓", "✗"
    except (UnicodeEncodeError, LookupError):
        return "+", "-"


def _collect() -> dict:
    import os
    import platform
    from dataclasses import asdict

    from sysvisor.kernel import probe as kp

    from sysvisor.methods import METHODS as IMPLEMENTED

    features = kp.probe_all()
    methods = [kp.method_report(name) for name in kp.METHODS]
    for m in methods:
        info = IMPLEMENTED.get(m["name"])
        m["kernel_ok"] = m["usable"]
        m["implemented"] = bool(info and info.implemented)
        m["capabilities"] = sorted(info.capabilities) if info else []
        if info is not None and info.shim:
            from sysvisor.methods.inprocess import shim_problems

            extra = shim_problems(info.shim)  # the shim library: built, and for this arch
            m["reasons"] = m["reasons"] + extra
            m["kernel_ok"] = m["kernel_ok"] and not extra
        m["usable"] = m["kernel_ok"] and m["implemented"]
    return {
        "kernel": ".".join(map(str, kp.kernel_version())),
        "release": os.uname().release,
        "machine": platform.machine(),
        "uid": os.geteuid(),
        "landlock_abi": kp.landlock_abi(),
        "features": [asdict(f) for f in features],
        "methods": methods,
    }


def _print_text(data: dict, out) -> None:
    yes, no = _marks(out)
    w = out.write
    w(f"kernel {data['kernel']} ({data['release']}), {data['machine']}, "
      f"euid {data['uid']}\n\n")
    feats = data["features"]
    nw = max(len(f["name"]) for f in feats)
    sw = max(len("since"), max(len(f["since"]) for f in feats))
    w("Kernel features\n")
    w(f"    {'feature'.ljust(nw)}  {'since'.ljust(sw)}  detail\n")
    for f in feats:
        mark = yes if f["available"] else no
        w(f"  {mark} {f['name'].ljust(nw)}  {f['since'].ljust(sw)}  {f['detail']}\n")
    w("\nMethods\n")
    mw = max(len(m["name"]) for m in data["methods"])
    for m in data["methods"]:
        mark = yes if m["usable"] else no
        if m["usable"]:
            state = "usable"
        elif m["kernel_ok"]:
            state = "kernel ready, not implemented in this version of sysvisor"
        else:
            state = "not usable"
        w(f"  {mark} {m['name'].ljust(mw)}  {state}: {m['title']}\n")
        pad = " " * (mw + 6)
        for r in m["reasons"]:
            w(f"{pad}missing: {r}\n")
        for r in m["missing_optional"]:
            w(f"{pad}without optional {r}\n")
        if m["note"]:
            w(f"{pad}note: {m['note']}\n")


def run(args: argparse.Namespace) -> int:
    data = _collect()
    out = sys.stdout
    try:
        if getattr(args, "json", False):
            import json
            json.dump(data, out, indent=2)
            out.write("\n")
        else:
            _print_text(data, out)
        out.flush()
    except BrokenPipeError:  # `sysvisor doctor | head`
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=HELP)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
