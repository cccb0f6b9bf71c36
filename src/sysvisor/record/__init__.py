"""Binary trace records: write them while tracing, read and render them later.

    from sysvisor.record import Reader, render_record
    from sysvisor.decode import Options

    with Reader("build.svt") as r:
        for rec in r:                      # RecordError at the first bad record
            print(render_record(rec, Options()))

The file layout is documented byte by byte in `sysvisor.record.format`
(and docs/record-format.md). A syscall record carries, as payloads, every
piece of tracee memory the decoders read while it was recorded (see
`sysvisor.layers.record`); `ReplayView` serves those reads back, so the
decoders render the same line from the file as they did live.
"""
from __future__ import annotations

from .format import (BUFFER, DELAYED, ENTRY, EXEC, EXIT, EXIT_PHASE, FLAG_NAMES, FORK,
                     FORK_NAMES, HDR_FOLLOW, INJECTED, KIND_NAMES, LOST, NO_EXIT, PATH, POKED,
                     SIGNAL, STRING, STRUCT, SYSCALL, TYPE_NAMES, Header, NotATraceFile, Payload,
                     Reader, Record, RecordError, Writer, read_records)

__all__ = ["open_recorder", "Header", "Payload", "Record", "Reader", "Writer", "RecordError", "NotATraceFile",
           "read_records", "ReplayView", "render_record", "record_to_json", "SYSCALL", "SIGNAL",
           "EXIT", "EXEC", "FORK", "NO_EXIT"]

_MAX_ERRNO = 4095


def open_recorder(path: str, trace: str | None = None, follow: bool = True, strsize: int = 256,
                  fd_paths: int = 0):
    """A `sysvisor.layers.record.Record` layer writing to `path` (what
    `sysvisor trace --record FILE` and `sysvisor record` use). The file is
    created at once, so an unwritable path raises UsageError before
    anything runs. `trace` is a -e trace= set; `strsize` the longest
    string or buffer captured."""
    from ..errors import UsageError
    from ..layers.record import Record as RecordLayer

    if strsize < 0:
        raise UsageError("-s must be >= 0")
    return RecordLayer(path, trace=trace, follow=follow, strsize=strsize, fd_paths=fd_paths)


class ReplayView:
    """A decoder view over a record: the raw values, and the memory the
    decoders read while recording (the payloads of one phase), served by
    address. Memory that was not recorded reads as unreadable (None)."""

    __slots__ = ("arch", "name", "nr", "args", "retval", "pid", "tid", "ip", "sp", "data", "_pay",
                 "_all")

    def __init__(self, rec: Record, phase: int, retval: int | None = None,
                 data: dict | None = None):
        self.arch = rec.arch_name
        self.ip = rec.ip
        self.sp = rec.sp
        # what decoders keep from entry for exit (Call.data when live):
        # share one dict between a record's entry and exit views
        self.data = {} if data is None else data
        self.name = rec.name
        self.nr = rec.nr
        self.args = list(rec.args)
        self.retval = retval
        self.pid = rec.pid
        self.tid = rec.tid
        self._all = rec.payloads
        self._pay = [p for p in rec.payloads if p.phase == phase]

    def read(self, addr: int, n: int) -> bytes | None:
        if n < 0:
            return None
        best = None
        for p in self._pay:
            k = p.kind
            if k == BUFFER or k == STRUCT:
                data = p.data
                short = len(data) < p.size  # the tracee's memory ended there
            elif k == STRING:
                data = p.data + b"\0" if p.complete else p.data
                short = False
            else:
                continue
            off = addr - p.addr
            if off < 0 or off > len(data):
                continue
            chunk = data[off:off + n]
            if len(chunk) == n or short:
                return chunk if chunk or n == 0 else None
            if best is None or len(chunk) > len(best):
                best = chunk
        return best or None

    def read_str(self, addr: int, maxlen: int):
        if maxlen < 0:
            maxlen = 0
        cand = None
        for p in self._pay:
            if p.kind == STRING and p.addr == addr and (cand is None or p.size > cand.size):
                cand = p
        if cand is not None:
            data = cand.data
            if len(data) > maxlen:
                return data[:maxlen], False
            return data, cand.complete
        for p in self._pay:  # a string inside a buffer that was read
            if p.kind not in (BUFFER, STRUCT):
                continue
            off = addr - p.addr
            if off < 0 or off >= len(p.data):
                continue
            window = p.data[off:off + maxlen + 1]
            nul = window.find(b"\0")
            if nul >= 0:
                return window[:nul], True
            return window[:maxlen], False
        return None

    def fd_path(self, fd: int) -> str | None:
        import os

        fallback = None
        for p in self._all:
            if p.kind == PATH and p.addr == fd:
                if p in self._pay:
                    return os.fsdecode(p.data)
                fallback = os.fsdecode(p.data)
        return fallback


def call_parts(rec: Record, opts) -> tuple[str, str, str]:
    """(entry text `name(args at entry`, the arguments known at exit, the
    rendered return value) of a syscall record, through the decoders, from
    the memory recorded in each phase. A call with no exit gives ("", "?")
    for the last two."""
    from ..decode import exit_parts, format_entry

    data: dict = {}
    head = format_entry(ReplayView(rec, ENTRY, None, data), opts)
    if rec.flags & NO_EXIT:
        return head, "", "?"
    args, ret = exit_parts(ReplayView(rec, EXIT_PHASE, rec.retval, data), opts)
    if rec.flags & (INJECTED | POKED | DELAYED):  # strace's markers of tampered calls
        from ..layers.faults import tamper_marks

        ret += tamper_marks(bool(rec.flags & INJECTED), bool(rec.flags & POKED),
                            bool(rec.flags & DELAYED))
    return head, args, ret


def render_call(rec: Record, opts, column: int = 0) -> str:
    """`name(args) = ret` for a syscall record; with `column`, ` = ` is
    padded to start there (strace's -a, the live tracer uses 39)."""
    head, args, ret = call_parts(rec, opts)
    return (head + args + ")").ljust(column) + " = " + ret


def signal_text(rec: Record) -> str:
    """`SIGCHLD {si_signo=...}` for a signal record, as the live tracer
    prints it (the siginfo decoder, when there is one)."""
    from ..kernel.ptrace import signal_name

    text = signal_name(rec.nr)
    info = next((p.data for p in rec.payloads if p.kind == STRUCT), None)
    if info:
        try:
            from ..decode.signal import format_siginfo

            text += " " + format_siginfo(info, rec.arch_name)
        except Exception:  # noqa: BLE001 - no decoder (yet), or a bad siginfo
            pass
    return text


def render_record(rec: Record, opts, column: int = 0) -> str | None:
    """The strace-style line of a record (without the `[pid N]` prefix and
    timestamps), or None for events strace does not print (exec, fork)."""
    from ..kernel.ptrace import describe_status

    if rec.type == SYSCALL:
        return render_call(rec, opts, column)
    if rec.type == SIGNAL:
        return f"--- {signal_text(rec)} ---"
    if rec.type == EXIT:
        return f"+++ {describe_status(rec.retval)} +++"
    if rec.type == LOST:
        return f"--- sysvisor: {lost_text(rec)} ---"
    return None


LOST_REASONS = ("ring full", "died while writing", "too big for the ring")


def lost_text(rec: Record) -> str:
    """`5 records lost (ring full: 5)` for a LOST record."""
    counts = (rec.args[0], rec.args[2], rec.args[3])
    why = ", ".join(f"{r}: {n}" for r, n in zip(LOST_REASONS, counts) if n)
    n = sum(counts)
    return f"{n} record{'' if n == 1 else 's'} lost ({why})"


def exe_of(rec: Record) -> str | None:
    import os

    for p in rec.payloads:
        if p.kind == PATH:
            return os.fsdecode(p.data)
    return None


def record_to_json(rec: Record, opts=None) -> dict:
    """The --json object of a record (schema in docs/record-format.md)."""
    from ..decode import errno_name
    from ..kernel.ptrace import signal_name

    base = {"seq": rec.seq, "time": round(rec.time_ns / 1e9, 6), "time_ns": rec.time_ns, "cpu": rec.cpu,
            "pid": rec.pid, "tid": rec.tid, "ns": rec.pidns, "cgroup": rec.cgroup}
    if rec.type == SYSCALL:
        r = None if rec.flags & NO_EXIT else rec.retval
        decoded = result = None
        if opts is not None:
            try:
                head, args, result = call_parts(rec, opts)
                decoded = head[len(rec.name) + 1:]
                decoded = decoded[:-2] + (", " + args if args else "") if decoded.endswith(", ") \
                    else decoded + args
            except Exception:  # noqa: BLE001 - never lose the record
                pass
        sc = rec.syscall
        out = {**base, "arch": rec.arch_name, "nr": rec.nr, "name": rec.name,
               "args": list(rec.args[:sc.nargs] if sc is not None else rec.args),
               "decoded": decoded, "result": result, "retval": r,
               "errno": errno_name(-r) if r is not None and -_MAX_ERRNO <= r < 0 else None,
               "duration_ns": rec.duration_ns if rec.duration_ns >= 0 else None,
               "flags": [n for b, n in FLAG_NAMES.items() if rec.flags & b],
               "ip": rec.ip, "sp": rec.sp}
        return out
    out = {"event": TYPE_NAMES.get(rec.type, str(rec.type)), **base}
    if rec.type == SIGNAL:
        out.update(signo=rec.nr, signal=signal_name(rec.nr), code=_s32(rec.args[2]),
                   decoded=signal_text(rec),
                   siginfo=next((p.data.hex() for p in rec.payloads if p.kind == STRUCT), None))
    elif rec.type == EXIT:
        st = rec.retval
        out.update(status=st, code=_s32(rec.args[0]) if _s32(rec.args[0]) >= 0 else None,
                   signal=signal_name(rec.args[1]) if rec.args[1] else None)
    elif rec.type == EXEC:
        out.update(former_tid=_s32(rec.args[0]), exe=exe_of(rec))
    elif rec.type == FORK:
        out.update(kind=FORK_NAMES.get(rec.nr, str(rec.nr)), child=_s32(rec.args[0]),
                   child_pid=_s32(rec.args[1]))
    elif rec.type == LOST:
        out.update(ring_full=rec.args[0], ring_full_bytes=rec.args[1], died_writing=rec.args[2],
                   too_big=rec.args[3])
    return out


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v
