"""`sysvisor format`: render a trace file written by `sysvisor record`,
strace-style (or as JSON lines), with filters.

    sysvisor format build.svt --pid 1234 --syscall openat,%net -tt -T
    sysvisor format build.svt --since 2025-01-31T10:00 --json

A truncated or corrupt file prints every intact record, then
`sysvisor format: FILE: corrupt record at offset N: REASON` and exits 1.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a trace file written by sysvisor record")
    p.add_argument("--pid", dest="pids", type=int, action="append", default=[], metavar="P",
                   help="only process P (thread group id); repeat for more")
    p.add_argument("--tid", dest="tids", type=int, action="append", default=[], metavar="T",
                   help="only thread T; repeat for more")
    p.add_argument("--syscall", dest="syscalls", action="append", default=[], metavar="NAMES",
                   help="only these syscalls (a -e trace= set: names, %%class, /regex, !neg); "
                        "signals and exits are still shown")
    p.add_argument("--ns", dest="ns", type=int, action="append", default=[], metavar="INODE",
                   help="only processes in the pid namespace with this inode")
    p.add_argument("--since", metavar="T", help="only records at or after T "
                   "(seconds since the epoch, or an ISO time)")
    p.add_argument("--until", metavar="T", help="only records at or before T")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("-s", dest="strsize", type=int, default=32, metavar="N",
                   help="longest string shown (default 32; the recording caps it)")
    p.add_argument("-t", dest="timestamps", action="count", default=0,
                   help="prefix lines with the time (-tt: microseconds, -ttt: epoch)")
    p.add_argument("-T", dest="show_time", action="store_true",
                   help="show the time spent in each syscall")


def parse_time(text: str) -> int:
    """Seconds since the epoch (`1700000000.5`) or an ISO time
    (`2025-01-31T10:00:00`, local time unless it has an offset) -> ns."""
    import datetime

    from ..errors import UsageError

    t = text.strip()
    try:
        return int(round(float(t) * 1e9))
    except ValueError:
        pass
    try:
        dt = datetime.datetime.fromisoformat(t.replace("Z", "+00:00") if t.endswith("Z") else t)
    except ValueError:
        raise UsageError(f"bad time {text!r}: give seconds since the epoch or an ISO time "
                         "like 2025-01-31T10:00:00") from None
    return int(round(dt.timestamp() * 1e9))


class Filter:
    """Which records to show."""

    def __init__(self, pids=(), tids=(), syscalls=(), ns=(), since=None, until=None):
        from ..syscallset import SyscallSet

        self.pids = set(pids)
        self.tids = set(tids)
        self.ns = set(ns)
        self.since = since
        self.until = until
        self.sets = [SyscallSet(s) for s in syscalls]
        self._nrs: dict[str, tuple] = {}
        if self.sets:  # unknown names are errors (with suggestions), as in trace -e
            from ..tables import native_arch, table

            for st in self.sets:
                st.numbers(table(native_arch()), strict=True)

    def _syscall_ok(self, rec) -> bool:
        from ..errors import UsageError

        arch = rec.arch_name
        ent = self._nrs.get(arch)
        if ent is None:
            from ..tables import table

            try:
                tab = table(arch)
                ent = [s.numbers(tab, strict=False) for s in self.sets]
            except (ValueError, UsageError):
                ent = [(set(), False) for _ in self.sets]
            self._nrs[arch] = ent
        return all(every or rec.nr in nrs for nrs, every in ent)

    def __call__(self, rec) -> bool:
        from ..record import SYSCALL

        if self.pids and rec.pid not in self.pids:
            return False
        if self.tids and rec.tid not in self.tids:
            return False
        if self.ns and rec.pidns not in self.ns:
            return False
        if self.since is not None and rec.time_ns < self.since:
            return False
        if self.until is not None and rec.time_ns > self.until:
            return False
        if self.sets and rec.type == SYSCALL and not self._syscall_ok(rec):
            return False
        return True


class TextOutput:
    """strace's layout, as the live tracer prints it on a terminal:
    `[pid N] ` while more than one thread lives (with -f), optional
    timestamps, ` = ` aligned at column 40, durations with -T."""

    COLUMN = 39

    def __init__(self, out, opts, follow: bool, timestamps: int = 0, show_time: bool = False):
        self.out = out
        self.opts = opts
        self.follow = follow
        self.timestamps = timestamps
        self.show_time = show_time
        self.live: set[int] = set()

    def _prefix(self, rec) -> str:
        import time

        p = f"[pid {rec.tid:>5}] " if self.follow and len(self.live) > 1 else ""
        if self.timestamps:
            ns = rec.time_ns
            if self.timestamps >= 3:
                p += f"{ns // 1_000_000_000}.{ns // 1000 % 1_000_000:06d} "
            else:
                lt = time.localtime(ns // 1_000_000_000)
                p += time.strftime("%H:%M:%S", lt)
                p += f".{ns // 1000 % 1_000_000:06d} " if self.timestamps == 2 else " "
        return p

    def track(self, rec) -> None:
        """Follow which threads live (forks and exits), shown or not."""
        from ..record import EXIT, FORK

        if rec.type == FORK:
            self.live.add(rec.tid)
            self.live.add(rec.args[0])
        elif rec.type != EXIT:
            self.live.add(rec.tid)

    def write(self, rec) -> None:
        from ..record import SYSCALL, call_parts, render_record

        if rec.type == SYSCALL:
            head, args, ret = call_parts(rec, self.opts)
            tail = f" <{rec.duration_ns / 1e9:.6f}>" if self.show_time and rec.duration_ns >= 0 else ""
            line = self._prefix(rec) + head + args + ")"
            self.out.write(line.ljust(self.COLUMN) + " = " + ret + tail + "\n")
            return
        line = render_record(rec, self.opts)
        if line is not None:
            self.out.write(self._prefix(rec) + line + "\n")

    def untrack(self, rec) -> None:
        from ..record import EXIT

        if rec.type == EXIT:
            self.live.discard(rec.tid)


class JsonOutput:
    def __init__(self, out, opts):
        self.out = out
        self.opts = opts

    def track(self, rec) -> None:
        pass

    untrack = track

    def write(self, rec) -> None:
        import json

        from ..record import record_to_json

        self.out.write(json.dumps(record_to_json(rec, self.opts), separators=(",", ":")) + "\n")


def run(args) -> int:
    from ..decode import Options
    from ..errors import UsageError
    from ..record import HDR_FOLLOW, NotATraceFile, Reader, RecordError

    if args.strsize < 0:
        raise UsageError("-s must be >= 0")
    flt = Filter(args.pids, args.tids, args.syscalls, args.ns,
                 parse_time(args.since) if args.since else None,
                 parse_time(args.until) if args.until else None)
    try:
        reader = Reader(args.file)
    except NotATraceFile as e:
        sys.stderr.write(f"sysvisor format: {args.file}: {e}\n")
        return 1
    except RecordError as e:
        sys.stderr.write(f"sysvisor format: {args.file}: {e}\n")
        return 1
    except IsADirectoryError:
        raise UsageError(f"{args.file}: is a directory") from None
    except OSError as e:
        raise UsageError(f"can't open {args.file}: {e.strerror}") from None
    opts = Options(strsize=args.strsize)
    out = sys.stdout
    if args.json:
        sink = JsonOutput(out, opts)
    else:
        sink = TextOutput(out, opts, bool(reader.header.flags & HDR_FOLLOW), args.timestamps,
                          args.show_time)
    try:
        with reader:
            for rec in reader:
                sink.track(rec)
                if flt(rec):
                    sink.write(rec)
                sink.untrack(rec)
    except RecordError as e:
        out.flush()
        sys.stderr.write(f"sysvisor format: {args.file}: {e}\n")
        return 1
    out.flush()
    return 0
