"""`sysvisor record`: run a command and write its system calls to a binary
trace file (see docs/record-format.md); render it with `sysvisor format`.

    sysvisor record -o build.svt -f -e trace=%file -- make
    sysvisor format build.svt --pid 1234
"""
from __future__ import annotations

import argparse

from ..record import open_recorder  # noqa: F401  (also used by `sysvisor trace --record`)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", dest="output", metavar="FILE", required=True,
                   help="the trace file to write (created, or truncated)")
    p.add_argument("-f", dest="follow", action="count", default=0,
                   help="follow forks, vforks, clones and threads")
    p.add_argument("-e", dest="expr", action="append", default=[], metavar="EXPR",
                   help="trace=SET: which syscalls (names, %%class, /regex, !negation)")
    p.add_argument("-s", dest="strsize", type=int, default=256, metavar="N",
                   help="longest string or buffer captured (default 256)")
    p.add_argument("-p", dest="pids", type=int, action="append", default=[], metavar="PID",
                   help="attach to PID (ptrace method); repeat for more")
    p.add_argument("--method", default="auto", help="interception method (default: auto)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --)")


def parse_trace_expr(exprs: list[str]) -> str | None:
    from ..errors import UsageError

    trace_set = None
    for e in exprs:
        key, sep, value = e.partition("=")
        if not sep:
            key, value = "trace", e
        if key in ("trace", "t"):
            trace_set = value
        else:
            raise UsageError(f"unsupported -e {key}= (supported: trace=)")
    return trace_set


def run(args) -> int:
    from ..errors import UsageError
    from ..session import Session

    cmd = args.command
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd and not args.pids:
        raise UsageError("must have a command to run or -p PID (see sysvisor record --help)")
    if cmd and args.pids:
        raise UsageError("give a command or -p PID, not both")
    trace_set = parse_trace_expr(args.expr)
    layer = open_recorder(args.output, trace=trace_set, follow=args.follow > 0 or bool(args.pids),
                          strsize=args.strsize)
    try:
        method = args.method
        if args.pids and method == "auto":
            method = "ptrace"
        with Session([layer], method=method, attach=bool(args.pids)) as s:
            if cmd:
                s.spawn(cmd)
            for pid in args.pids:
                s.attach(pid)
            return s.run()
    finally:
        layer.finish()
