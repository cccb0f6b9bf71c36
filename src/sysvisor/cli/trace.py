"""`sysvisor trace`: trace a command or running processes, with strace's
options and output."""
from __future__ import annotations

import argparse

STATUS_HELP = "successful, failed, unfinished, unavailable, detached"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", dest="follow", action="count", default=0,
                   help="follow forks, vforks, clones and threads; -ff with -o: one file per process")
    p.add_argument("-e", dest="expr", action="append", default=[], metavar="EXPR",
                   help="trace=SET (names, %%class, /regex, !negation), status=SET (" + STATUS_HELP
                        + "), inject=SET[:error=E|:retval=V][:signal=S][:syscall=NAME]"
                        "[:delay_enter=T][:delay_exit=T][:poke_enter=@argN=HEX][:poke_exit=...]"
                        "[:when=FIRST[..LAST][+[STEP]]] or fault=SET[:error=E][:when=W]")
    p.add_argument("-P", dest="paths", action="append", default=[], metavar="PATH",
                   help="trace only the syscalls that access PATH")
    p.add_argument("-p", dest="pids", type=int, action="append", default=[], metavar="PID",
                   help="attach to PID (ptrace method); repeat for more")
    p.add_argument("-o", dest="output", metavar="FILE", help="write the trace to FILE")
    p.add_argument("-s", dest="strsize", type=int, default=32, metavar="N",
                   help="longest string shown (default 32)")
    p.add_argument("-y", dest="fd_paths", action="count", default=0,
                   help="print the paths of file descriptors")
    p.add_argument("-t", dest="timestamps", action="count", default=0,
                   help="prefix lines with the time (-tt: microseconds, -ttt: epoch)")
    p.add_argument("-T", dest="show_time", action="store_true", help="show the time spent in each syscall")
    p.add_argument("-r", dest="relative", action="store_true", help="print a relative timestamp")
    p.add_argument("-c", dest="summary", action="store_true", help="count time, calls and errors per syscall")
    p.add_argument("-C", dest="summary_too", action="store_true", help="like -c, and also print the trace")
    p.add_argument("-w", dest="wall", action="store_true", help="summary time is wall-clock latency")
    p.add_argument("-S", dest="sortby", default="time", choices=["time", "calls", "errors", "name", "nothing"],
                   help="sort the summary by (default: time)")
    p.add_argument("-z", dest="only_ok", action="store_true", help="print only successful syscalls")
    p.add_argument("-Z", dest="only_failed", action="store_true", help="print only failed syscalls")
    p.add_argument("--json", dest="as_json", action="store_true", help="one JSON object per line")
    p.add_argument("--record", metavar="FILE", help="also write binary trace records to FILE")
    p.add_argument("--method", default="auto", help="interception method (default: auto)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --)")


def parse_exprs(exprs: list[str], injections: list | None = None) -> tuple[str | None, set[str] | None]:
    """-e trace=SET and -e status=SET (strace's qualifiers); -e inject= and
    -e fault= too when `injections` is a list (they are appended to it)."""
    from ..errors import UsageError
    from ..layers.trace import STATUSES

    trace_set = None
    statuses: set[str] | None = None
    for e in exprs:
        key, sep, value = e.partition("=")
        if not sep:
            key, value = "trace", e
        if key in ("trace", "t"):
            trace_set = value
        elif key == "status":
            neg = value.startswith("!")
            names = {v for v in value.lstrip("!").split(",") if v}
            if "all" in names:
                names = set(STATUSES)
            bad = names - set(STATUSES)
            if bad:
                raise UsageError(f"invalid status {', '.join(sorted(bad))!r} (valid: {', '.join(STATUSES)})")
            statuses = set(STATUSES) - names if neg else names
        elif key in ("inject", "fault") and injections is not None:
            from ..layers.faults import parse_inject

            injections.append(parse_inject(value, key))
        else:
            supported = "trace=, status=" + (", inject=, fault=" if injections is not None else "")
            raise UsageError(f"unsupported qualifier -e {key}= (supported: {supported})")
    return trace_set, statuses


def _open_output(path: str, per_process: bool):
    from ..errors import UsageError

    try:
        if per_process:
            import os

            d = os.path.dirname(path) or "."
            if not os.access(d, os.W_OK):
                raise PermissionError(13, "Permission denied")
            return None
        return open(path, "w", buffering=1 << 16)
    except OSError as e:
        raise UsageError(f"can't open {path}: {e.strerror}") from None


def run(args) -> int:
    from ..errors import UsageError
    from .common import command_or_pids, run_session

    cmd = command_or_pids(args, "trace")
    if args.only_ok and args.only_failed:
        raise UsageError("-z and -Z are mutually exclusive")
    injections: list = []
    trace_set, statuses = parse_exprs(args.expr, injections)
    if args.only_ok:
        statuses = {"successful"}
    if args.only_failed:
        statuses = {"failed"}
    per_process = args.follow >= 2 and args.output is not None
    out = _open_output(args.output, per_process) if args.output else None
    recorder = None
    try:
        layers = []
        summary = args.summary or args.summary_too
        if not args.summary or args.summary_too:
            from ..layers.trace import Trace

            layers.append(Trace(out=out, trace=trace_set, follow=args.follow > 0 or bool(args.pids),
                                per_process=args.output if per_process else None,
                                strsize=args.strsize, fd_paths=args.fd_paths,
                                timestamps=args.timestamps, relative=args.relative,
                                show_time=args.show_time, statuses=statuses, paths=args.paths,
                                as_json=args.as_json))
        if summary:
            from ..layers.summary import Summary

            layers.append(Summary(out=out, trace=trace_set, wall=args.wall, sort=args.sortby))
        if args.record:
            from ..record import open_recorder

            recorder = open_recorder(args.record, trace=trace_set,
                                     follow=args.follow > 0 or bool(args.pids),
                                     strsize=max(args.strsize, 256), fd_paths=args.fd_paths)
            layers.append(recorder)
        if injections:
            layers.append(_faults(injections, trace_set, args.paths))
        return run_session(layers, args.method, cmd, args.pids, "trace")
    finally:
        if recorder is not None:
            recorder.finish()
        if out is not None:
            out.close()


def _faults(injections, trace_set, paths):
    """The Faults layer of -e inject=/fault=, below the tracer: like strace,
    it only tampers with calls the trace shows (-e trace=, -P)."""
    import sys

    from ..layers.faults import Faults, retval_warning
    from ..layers.trace import Trace

    for inj in injections:
        warning = retval_warning(inj)
        if warning:
            sys.stderr.write(f"sysvisor trace: {warning}\n")
    only = Trace(paths=paths)._touches_paths if paths else None
    return Faults(injections, within=trace_set, only=only)
