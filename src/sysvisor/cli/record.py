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


def run(args) -> int:
    from .common import command_or_pids, run_session
    from .trace import parse_exprs

    cmd = command_or_pids(args, "record")
    trace_set, statuses = parse_exprs(args.expr)
    if statuses is not None:
        from ..errors import UsageError

        raise UsageError("-e status= filters printed lines; a recording keeps every call")
    layer = open_recorder(args.output, trace=trace_set, follow=args.follow > 0 or bool(args.pids),
                          strsize=args.strsize)
    try:
        return run_session([layer], args.method, cmd, args.pids, "record")
    finally:
        layer.finish()
