"""`sysvisor trace`: trace a command or running processes, strace-style."""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", dest="follow", action="count", default=0,
                   help="follow forks, vforks, clones and threads")
    p.add_argument("-e", dest="expr", action="append", default=[], metavar="EXPR",
                   help="trace=SET: which syscalls (names, %%class, /regex, !negation)")
    p.add_argument("-o", dest="output", metavar="FILE", help="write the trace to FILE")
    p.add_argument("-s", dest="strsize", type=int, default=32, metavar="N",
                   help="longest string shown (default 32)")
    p.add_argument("-p", dest="pids", type=int, action="append", default=[], metavar="PID",
                   help="attach to PID (ptrace method); repeat for more")
    p.add_argument("-t", dest="timestamps", action="count", default=0,
                   help="prefix lines with the time (-tt: microseconds, -ttt: epoch)")
    p.add_argument("-T", dest="show_time", action="store_true",
                   help="show the time spent in each syscall")
    p.add_argument("--method", default="auto", help="interception method (default: auto)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --)")


def run(args) -> int:
    from ..errors import UsageError
    from ..layers.trace import Trace
    from ..session import Session

    cmd = args.command
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd and not args.pids:
        raise UsageError("must have a command to run or -p PID (see sysvisor trace --help)")
    if cmd and args.pids:
        raise UsageError("give a command or -p PID, not both")
    trace_set = None
    for e in args.expr:
        key, sep, value = e.partition("=")
        if not sep:
            key, value = "trace", e
        if key in ("trace", "t"):
            trace_set = value
        else:
            raise UsageError(f"unsupported -e {key}= (supported: trace=)")
    out = sys.stderr
    if args.output:
        try:
            out = open(args.output, "w", buffering=1 << 16)
        except OSError as e:
            raise UsageError(f"can't open {args.output}: {e.strerror}") from None
    try:
        layer = Trace(out=out, trace=trace_set, follow=args.follow > 0 or bool(args.pids),
                      strsize=args.strsize, timestamps=args.timestamps, show_time=args.show_time)
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
        if out is not sys.stderr:
            out.close()
