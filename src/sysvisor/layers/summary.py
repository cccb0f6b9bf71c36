"""Summary: strace -c's table of time, calls and errors per syscall."""
from __future__ import annotations

import sys
import time

from ..decode import MAX_ERRNO
from .trace import SetFilter


class Summary(SetFilter):
    """Count calls, errors and time per syscall over the traced tree and
    print strace's -c table at the end. Time is the traced thread's system
    time between entry and exit (from wait4's rusage, like strace), or the
    wall-clock time between entry and exit with wall=True (strace -w)."""

    wants_rusage = True
    needs = frozenset({"result"})  # times and errors come from the exit stop

    def __init__(self, out=None, trace: str | None = None, wall: bool = False,
                 sort: str = "time"):
        super().__init__(trace)
        self.out = out if out is not None else sys.stderr
        self.wall = wall
        self.sort = sort
        self.stats: dict[str, list] = {}  # name -> [nr, calls, errors, seconds]

    def _now(self, call) -> float:
        if self.wall:
            return time.monotonic()
        return getattr(call.process, "stime", 0.0)

    def syscall(self, call):
        call.data["summary_t0"] = self._now(call)
        call.on_answer(self._exit)
        return call.next()

    def _exit(self, call):
        st = self.stats.get(call.name)
        if st is None:
            st = self.stats[call.name] = [call.nr, 0, 0, 0.0]
        st[1] += 1
        r = call.retval
        if r is not None and -MAX_ERRNO <= r < 0:
            st[2] += 1
        st[3] += max(self._now(call) - call.data["summary_t0"], 0.0)

    def table(self) -> str:
        rows = [(name, *v) for name, v in self.stats.items()]
        key = {"time": lambda r: (-r[4], r[1]), "calls": lambda r: (-r[2], r[1]),
               "errors": lambda r: (-r[3], r[1]), "name": lambda r: r[0],
               "nothing": lambda r: 0}.get(self.sort, lambda r: (-r[4], r[1]))
        rows.sort(key=key)
        total = sum(r[4] for r in rows)
        width = max([16] + [len(r[0]) for r in rows])
        sep = f"------ ----------- ----------- --------- --------- {'-' * width}"
        out = ["% time     seconds  usecs/call     calls    errors syscall", sep]
        for name, _nr, calls, errors, secs in rows:
            pct = 100.0 * secs / total if total else 0.0
            usecs = int(secs * 1e6 / calls) if calls else 0
            err = f"{errors:9d}" if errors else " " * 9
            out.append(f"{pct:6.2f} {secs:11.6f} {usecs:11d} {calls:9d} {err} {name}")
        calls = sum(r[2] for r in rows)
        errors = sum(r[3] for r in rows)
        out.append(sep)
        usecs = int(total * 1e6 / calls) if calls else 0
        err = f"{errors:9d}" if errors else " " * 9
        out.append(f"{100.0 if rows else 0.0:6.2f} {total:11.6f} {usecs:11d} {calls:9d} {err} total")
        return "\n".join(out) + "\n"

    def on_end(self, session):
        self.out.write(self.table())
        try:
            self.out.flush()
        except (OSError, ValueError):
            pass
