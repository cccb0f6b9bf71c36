"""Trace: print syscalls the way strace does.

    openat(AT_FDCWD, "/etc/hostname", O_RDONLY|O_CLOEXEC) = 3
    [pid  1234] read(3,  <unfinished ...>
    [pid  1235] close(4)                    = 0
    [pid  1234] <... read resumed>"vm\\n", 4096) = 3
    --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, ...} ---
    +++ exited with 0 +++

The arguments are rendered by sysvisor.decode: the ones known at entry
when the call enters, the rest at exit, so that lines of threads that
interleave split like strace's. ` = ` is aligned at column 40.
"""
from __future__ import annotations

import json
import os
import sys
import time

from ..decode import MAX_ERRNO, Options, errno_name, exit_parts, format_entry
from ..kernel.ptrace import describe_status, signal_name
from ..layer import Layer
from ..syscallset import SyscallSet

ACOLUMN = 39  # ` = ` starts here, like strace's -a 40

STATUSES = ("successful", "failed", "unfinished", "unavailable", "detached")


class SetFilter(Layer):
    """A layer whose interests are a strace syscall set (-e trace=SET)."""

    def __init__(self, trace: str | None = None):
        self.set = SyscallSet(trace) if trace else None

    def interests(self, table):
        if self.set is None:
            return None
        nrs, everything = self.set.numbers(table, strict=table.arch in ("x86_64", "aarch64"))
        if everything:
            return None
        return {nr: None for nr in nrs}


def _siginfo_text(signo: int, info: bytes | None, arch: str) -> str:
    if info:
        try:
            from ..decode.signal import format_siginfo

            return " " + format_siginfo(info, arch)
        except Exception:
            pass
    return ""


class Trace(SetFilter):
    """Print syscalls strace-style.

    out: a text file, or None for stderr. per_process: a path prefix: one
    file per traced thread, PREFIX.TID (strace -ff). follow: show children
    and threads (strace -f). strsize: -s. fd_paths: -y (1) or -yy (2).
    timestamps: 0, 1 (-t), 2 (-tt), 3 (-ttt). relative: -r. show_time: -T.
    statuses: a subset of STATUSES to show (-e status=, -z, -Z).
    paths: only calls that touch one of these paths (-P). as_json: one JSON
    object per line instead of strace's text.
    """

    needs = frozenset({"result"})  # a tracer prints results

    def __init__(self, out=None, trace: str | None = None, follow: bool = False,
                 per_process: str | None = None, strsize: int = 32, fd_paths: int = 0,
                 timestamps: int = 0, relative: bool = False, show_time: bool = False,
                 statuses=None, paths=None, as_json: bool = False, arch_note: bool = True):
        super().__init__(trace)
        self.out = out if out is not None else sys.stderr
        self.to_file = out is not None
        self.per_process = per_process
        self.files: dict[int, object] = {}
        self.follow = follow or per_process is not None
        self.opts = Options(strsize=strsize, fd_paths=fd_paths)
        self.timestamps = timestamps
        self.relative = relative
        self.last_time: float | None = None
        self.show_time = show_time
        self.statuses = set(statuses) if statuses else None
        self.paths = [os.path.normpath(p) for p in paths] if paths else None
        self.as_json = as_json
        self.buffered = bool(self.statuses or self.paths or as_json)
        self.root: int | None = None
        self.live: set[int] = set()
        self.open_tid: int | None = None  # whose line is open on the shared output
        self.open_len: dict[int, int] = {}  # tid -> length of its open line
        self.open_heads: dict[int, str] = {}  # tid -> the entry text of its open call
        self.inflight: dict[int, str] = {}  # tid -> syscall printed at entry, not yet at exit
        # the clocks a call reads only when something shows them
        self._wall = bool(timestamps or relative or as_json)
        self._mono = bool(show_time or as_json)
        from .. import decode

        decode._load_families()  # now, not in the first stop

    # ---- output plumbing -----------------------------------------------------

    def _shown(self, tid: int) -> bool:
        if self.root is None:
            self.root = tid
        return self.follow or tid == self.root

    def _stream(self, tid: int):
        if self.per_process is None:
            return self.out
        f = self.files.get(tid)
        if f is None:
            f = self.files[tid] = open(f"{self.per_process}.{tid}", "w", buffering=1 << 16)
        return f

    def _prefix(self, tid: int, when: float | None = None) -> str:
        p = ""
        if self.follow and self.per_process is None:
            # strace: a file gets "PID " on every line with -f; a terminal
            # gets "[pid N] " while more than one process is traced
            if self.to_file:
                p = f"{tid:<5} "
            elif len(self.live) > 1:
                p = f"[pid {tid:>5}] "
        if self.timestamps or self.relative:
            now = time.time() if when is None else when
            if self.relative:
                prev = self.last_time if self.last_time is not None else now
                d = now - prev
                p += f"{int(d):6d}.{int(d * 1e6) % 1000000:06d} "
                self.last_time = now
            elif self.timestamps >= 3:
                p += f"{now:.6f} "
            else:
                p += time.strftime("%H:%M:%S", time.localtime(now))
                p += f".{int(now * 1e6) % 1000000:06d} " if self.timestamps == 2 else " "
        return p

    def _close_open(self) -> None:
        if self.open_tid is not None and self.per_process is None:
            self.out.write(" <unfinished ...>\n")
            self.open_len.pop(self.open_tid, None)
        self.open_tid = None

    def _write(self, tid: int, text: str) -> None:
        if self.per_process is None and self.open_tid is not None and self.open_tid != tid:
            self._close_open()
        self._stream(tid).write(text)

    # ---- syscalls -----------------------------------------------------------------

    def syscall(self, call):
        tid = call.tid
        if not self.follow and not self._shown(tid):
            return call.next()
        if self.root is None:
            self.root = tid
        self.live.add(tid)
        now = time.time() if self._wall else None
        head = format_entry(call, self.opts)
        call.data["trace"] = (head, now, time.monotonic() if self._mono else None)
        if self.paths is not None and not self._touches_paths(call):
            return call.next()
        call.on_answer(self._exit)
        if not self.buffered:
            pre = self._prefix(tid, now)
            if self.per_process is None:
                if self.open_tid is not None and self.open_tid != tid:
                    self._close_open()
                self.out.write(pre + head)
                self.open_tid = tid
            else:
                self._stream(tid).write(pre + head)
                self.open_tid = None
            self.open_len[tid] = len(pre) + len(head)
            self.open_heads[tid] = head
            self.inflight[tid] = call.name
        return call.next()

    def _touches_paths(self, call) -> bool:
        sc = call.syscall
        if sc is None:
            return False
        for i, decl in enumerate(sc.args):
            d = decl.replace("const ", "")
            name = d.rsplit(" ", 1)[-1].lstrip("*")
            if d.startswith("char *") and ("name" in name or "path" in name):
                p = call.path(i)
                if p is not None and os.path.normpath(p) in self.paths:
                    return True
            elif name in ("fd", "dfd", "dirfd", "oldfd", "newfd", "olddfd", "newdfd") and "*" not in d:
                p = call.fd_path(call.fd_arg(i))
                if p is not None and p in self.paths:
                    return True
        return False

    def _exit(self, call):
        tid = call.tid
        head, t_wall, t0 = call.data["trace"]
        self.inflight.pop(tid, None)
        r = call.retval
        if r is None:  # let through on unotify: the result is never seen
            args, ret = "", "?"
        else:
            args, ret = exit_parts(call, self.opts)
        failed = r is not None and -MAX_ERRNO <= r < 0
        d = call.data
        if "injected" in d or "injected_args" in d or "delayed" in d:  # layers/faults.py
            from .faults import tamper_marks

            ret += tamper_marks(d.get("injected", False), d.get("injected_args", False),
                                d.get("delayed", False))
        if self.statuses is not None and ("failed" if failed else "successful") not in self.statuses:
            return
        elapsed = time.monotonic() - t0 if self._mono else 0.0
        if self.as_json:
            self._json(call, head, args, ret, t_wall, elapsed)
            return
        tail = f" <{elapsed:.6f}>" if self.show_time else ""
        if self.buffered:
            line = self._prefix(tid, t_wall) + head + args + ")"
            self._write(tid, line.ljust(ACOLUMN) + " = " + ret + tail + "\n")
        elif tid in self.open_len and (self.open_tid == tid or self.per_process is not None):
            # the entry half is on the line already: continue it
            text = args + ")"
            pad = max(ACOLUMN - self.open_len.pop(tid) - len(text), 0)
            self._stream(tid).write(text + " " * pad + " = " + ret + tail + "\n")
        else:
            self.open_len.pop(tid, None)
            line = self._prefix(tid) + f"<... {call.name} resumed>{args})"
            self._write(tid, line.ljust(ACOLUMN) + " = " + ret + tail + "\n")
        if self.open_tid == tid:
            self.open_tid = None

    def _json(self, call, head, args, ret, t_wall, elapsed) -> None:
        # the same field names as `sysvisor format --json` (docs/record-format.md)
        r = call.retval
        err = -r if r is not None and -MAX_ERRNO <= r < 0 else 0
        decoded = head[len(call.name) + 1:]
        decoded = decoded[:-2] + (", " + args if args else "") if decoded.endswith(", ") else decoded + args
        obj = {
            "time": round(t_wall, 6), "time_ns": int(t_wall * 1e9), "pid": call.pid, "tid": call.tid,
            "arch": call.arch, "nr": call.nr, "name": call.name, "args": call.args[:call.nargs],
            "decoded": decoded, "result": ret, "retval": r,
            "errno": errno_name(err) if err else None, "duration_ns": int(elapsed * 1e9),
            "ip": call.ip, "sp": call.sp,
        }
        self._stream(call.tid).write(json.dumps(obj, separators=(",", ":")) + "\n")

    # ---- events ------------------------------------------------------------------------

    def on_signal(self, tid, signo, siginfo):
        if not self._shown(tid):
            return
        if self.as_json:
            self._stream(tid).write(json.dumps({"event": "signal", "time": round(time.time(), 6), "tid": tid,
                                                "signo": signo, "signal": signal_name(signo)}) + "\n")
            return
        self._close_open()
        arch = "x86_64" if os.uname().machine == "x86_64" else "aarch64"
        self._write(tid, self._prefix(tid) + f"--- {signal_name(signo)}{_siginfo_text(signo, siginfo, arch)} ---\n")

    def on_stop(self, tid, signo):
        if not self._shown(tid) or self.as_json:
            return
        self._close_open()
        self._write(tid, self._prefix(tid) + f"--- stopped by {signal_name(signo)} ---\n")

    def on_fork(self, parent, child, kind):
        if self.follow:
            self.live.add(child)

    def on_exit(self, tid, status):
        if not self._shown(tid):
            self.live.discard(tid)
            return
        if self.as_json:
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            sig = signal_name(os.WTERMSIG(status)) if os.WIFSIGNALED(status) else None
            self._stream(tid).write(json.dumps({"event": "exit", "time": round(time.time(), 6), "tid": tid,
                                                "status": status, "code": code, "signal": sig}) + "\n")
        else:
            name = self.inflight.pop(tid, None)
            if name is not None and (self.statuses is None or "unfinished" in self.statuses):
                if tid in self.open_len and (self.open_tid == tid or self.per_process is not None):
                    # exit_group and friends never return; a call cut short
                    # by the thread's death keeps strace's marker
                    text = " <unfinished ...>)" if self.open_heads.get(tid, "").endswith(", ") else ")"
                    pad = max(ACOLUMN - self.open_len.pop(tid) - len(text), 0)
                    self._stream(tid).write(text + " " * pad + " = ?\n")
                    if self.open_tid == tid:
                        self.open_tid = None
                else:
                    line = self._prefix(tid) + f"<... {name} resumed>)"
                    self._write(tid, line.ljust(ACOLUMN) + " = ?\n")
            self.open_len.pop(tid, None)
            self._close_open()
            self._write(tid, self._prefix(tid) + f"+++ {describe_status(status)} +++\n")
        self.live.discard(tid)
        f = self.files.pop(tid, None)
        if f is not None:
            f.close()

    def on_end(self, session):
        self._close_open()
        for f in self.files.values():
            f.close()
        self.files.clear()
        try:
            self.out.flush()
        except (OSError, ValueError):
            pass


class AnswerTrace(Trace):
    """Trace for a stack that runs on unotify (confinement, policies): no
    process events and no results of the calls the kernel runs, so each
    call is printed, whole, with the answer of the layers below it (the
    value, the error, the fd handed over), or "= ?" for a call let through.
    Handlers run concurrently there: a thread's lines are written in its
    call order, under a lock. Put it on top of the stack; it follows every
    process (strace -f)."""

    needs = frozenset()
    on_fork = on_signal = on_stop = None  # unotify has no such events

    def __init__(self, out=None, trace: str | None = None, **kw):
        import threading

        kw.setdefault("follow", True)
        super().__init__(out=out, trace=trace, **kw)
        self.buffered = True  # whole lines, at the answer
        self._out_lock = threading.Lock()
        self._local = threading.local()  # the seq of the call whose line is written
        self._seq: dict[int, int] = {}  # tid -> calls entered
        self._done: dict[int, int] = {}  # tid -> calls written
        self._held: dict[int, dict[int, str]] = {}  # tid -> seq -> line, waiting for earlier ones

    def syscall(self, call):
        tid = call.tid
        with self._out_lock:
            seq = self._seq[tid] = self._seq.get(tid, 0) + 1
            self.live.add(tid)
        call.data["trace_seq"] = seq
        try:
            return super().syscall(call)
        finally:
            hooks = list(call.exit_hooks or ()) + list(getattr(call, "_answer_hooks", ()))
            if self._exit not in hooks:  # not shown (-P): nothing will come for it
                self._ordered(tid, seq, "")

    def _ordered(self, tid: int, seq: int, text: str) -> None:
        with self._out_lock:
            held = self._held.setdefault(tid, {})
            held[seq] = text
            nxt = self._done.get(tid, 0) + 1
            while nxt in held:
                line = held.pop(nxt)
                if line:
                    self._stream(tid).write(line)
                nxt += 1
            self._done[tid] = nxt - 1

    def _write(self, tid: int, text: str) -> None:
        seq = getattr(self._local, "seq", None)
        if seq is None:
            with self._out_lock:
                self._stream(tid).write(text)
            return
        self._local.seq = None
        self._ordered(tid, seq, text)

    def _exit(self, call):
        seq = call.data.get("trace_seq")
        self._local.seq = seq
        try:
            super()._exit(call)
        finally:
            if self._local.seq is not None:  # filtered (-e status=): nothing written
                self._local.seq = None
                self._ordered(call.tid, seq, "")
