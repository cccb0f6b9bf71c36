"""Trace: print every syscall strace-style.

    openat(AT_FDCWD, "/etc/hostname", 0x80000) = 3
    [pid 1234] read(3, 0x7ffd..., 4096) = 13
    --- SIGCHLD ---
    +++ exited with 0 +++

Arguments are rendered from the syscall table's C types: strings for
`char *` arguments that name paths or strings, signed decimal for ints,
hex for pointers and anything else. Lines of different threads that
interleave are split strace's way (`<unfinished ...>` / `<... resumed>`).
"""
from __future__ import annotations

import errno as _errno
import os
import sys
import time

from ..arch import to_signed
from ..kernel.ptrace import describe_status, signal_name
from ..layer import Layer
from ..syscallset import SyscallSet

_STRING_NAMES = ("filename", "pathname", "path", "name", "oldname", "newname", "specialfile",
                 "old", "new", "dev_name", "dir_name", "type", "library", "uargs")


def _is_string(argdecl: str) -> bool:
    decl = argdecl.replace("const ", "")
    if not decl.startswith("char *") and not decl.startswith("char __user *"):
        return False
    return decl.rsplit(" ", 1)[-1].lstrip("*") in _STRING_NAMES or "name" in decl or "path" in decl


def _render_str(data: bytes, complete: bool, limit: int) -> str:
    out = []
    for b in data[:limit]:
        c = chr(b)
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append(f"\\{b:o}")
    s = '"' + "".join(out) + '"'
    if len(data) > limit or not complete:
        s += "..."
    return s


class Trace(Layer):
    """Print syscalls to `out` (a text file) strace-style.

    trace: a syscall set (strace's -e trace= syntax) or None for all.
    follow: show the children and threads too (strace -f).
    strsize: longest string shown (strace -s).
    timestamps: 0 none, 1 -t, 2 -tt, 3 -ttt.
    """

    def __init__(self, out=None, trace: str | None = None, follow: bool = True,
                 strsize: int = 32, timestamps: int = 0, show_time: bool = False):
        self.out = out or sys.stderr
        self.set = SyscallSet(trace) if trace else None
        self.follow = follow
        self.strsize = strsize
        self.timestamps = timestamps
        self.show_time = show_time
        self.root: int | None = None
        self.pids_seen: set[int] = set()
        self.unfinished: int | None = None  # tid whose line is open

    # interests: the -e trace= set, so nothing else stops the program
    def interests(self, table):
        if self.set is None:
            return None
        nrs, everything = self.set.numbers(table, strict=table.arch in ("x86_64", "aarch64"))
        if everything:
            return None
        return {nr: None for nr in nrs}

    def on_start(self, session):
        pass

    # ---- output ------------------------------------------------------------

    def _shown(self, tid: int) -> bool:
        if self.root is None:
            self.root = tid
        return self.follow or tid == self.root

    def _prefix(self, tid: int) -> str:
        self.pids_seen.add(tid)
        p = f"[pid {tid:>5}] " if self.follow and len(self.pids_seen) > 1 else ""
        if self.timestamps:
            now = time.time()
            if self.timestamps >= 3:
                p += f"{now:.6f} "
            else:
                lt = time.localtime(now)
                p += time.strftime("%H:%M:%S", lt) + (f".{int(now * 1e6) % 1000000:06d} " if self.timestamps == 2 else " ")
        return p

    def _write_line_start(self, tid: int, text: str) -> None:
        if self.unfinished is not None and self.unfinished != tid:
            self.out.write(" <unfinished ...>\n")
            self.unfinished = None
        self.out.write(self._prefix(tid) + text)

    def _close_open_line(self) -> None:
        if self.unfinished is not None:
            self.out.write(" <unfinished ...>\n")
            self.unfinished = None

    # ---- calls -------------------------------------------------------------------

    def format_args(self, call) -> str:
        sc = call.syscall
        if sc is None:
            return ", ".join(hex(a) for a in call.args)
        parts = []
        for i, decl in enumerate(sc.args):
            a = call.args[i]
            if _is_string(decl):
                r = call.read_bytes(i, self.strsize + 1) if a else None
                parts.append("NULL" if a == 0 else (hex(a) if r is None else _render_str(r[0], r[1], self.strsize)))
            elif "*" in decl:
                parts.append("NULL" if a == 0 else hex(a))
            elif decl.startswith(("int ", "long ", "pid_t", "off_t", "loff_t", "clockid_t", "timer_t", "key_t", "mqd_t")):
                bits = 32 if call.arch == "i386" or decl.startswith(("int ", "pid_t", "clockid_t", "timer_t", "key_t", "mqd_t")) else 64
                v = to_signed(a, bits)
                parts.append("AT_FDCWD" if v == -100 and ("dfd" in decl or "dirfd" in decl) else str(v))
            elif decl.startswith(("unsigned", "size_t", "u32", "u64", "umode_t", "uid_t", "gid_t", "qid_t", "old_uid_t", "old_gid_t")):
                parts.append(oct(a) if decl.startswith("umode_t") else str(a))
            else:
                parts.append(hex(a))
        return ", ".join(parts)

    def syscall(self, call):
        if not self._shown(call.tid):
            return call.next()
        text = f"{call.name}({self.format_args(call)}"
        self._write_line_start(call.tid, text)
        self.unfinished = call.tid
        call.data["trace_t0"] = time.monotonic()
        call.data["trace_text"] = text
        call.on_exit(self._exit)
        return call.next()

    def _exit(self, call):
        if self.unfinished == call.tid:
            self.out.write(") ")
        else:
            self._close_open_line()
            self.out.write(self._prefix(call.tid) + f"<... {call.name} resumed>) ")
        self.unfinished = None
        r = call.retval
        if -4096 < r < 0:
            e = -r
            name = _errno.errorcode.get(e, str(e))
            res = f"= -1 {name} ({os.strerror(e)})"
        elif call.syscall is not None and call.name in ("mmap", "brk", "mremap", "mmap2", "shmat"):
            res = f"= {r & 0xFFFFFFFFFFFFFFFF:#x}"
        else:
            res = f"= {r}"
        if self.show_time:
            res += f" <{time.monotonic() - call.data['trace_t0']:.6f}>"
        self.out.write("= " + res[2:] + "\n" if res.startswith("= ") else res + "\n")

    # ---- events ----------------------------------------------------------------------

    def on_signal(self, tid, signo, siginfo):
        if not self._shown(tid):
            return
        self._close_open_line()
        self.out.write(self._prefix(tid) + f"--- {signal_name(signo)} ---\n")

    def on_exit(self, tid, status):
        if not self._shown(tid):
            return
        if self.unfinished == tid:  # exit_group and friends never return
            self.out.write(") = ?\n")
            self.unfinished = None
        self._close_open_line()
        self.out.write(self._prefix(tid) + f"+++ {describe_status(status)} +++\n")

    def on_end(self, session):
        self._close_open_line()
        try:
            self.out.flush()
        except (OSError, ValueError):
            pass
