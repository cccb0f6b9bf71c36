"""ptrace constants and the wait-status vocabulary (see ptrace(2))."""
from __future__ import annotations

import os
import signal

PTRACE_TRACEME = 0
PTRACE_PEEKDATA = 2
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_DETACH = 17
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_GETSIGINFO = 0x4202
PTRACE_GETREGSET = 0x4204
PTRACE_SETREGSET = 0x4205
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_GET_SYSCALL_INFO = 0x420E
PTRACE_SET_SYSCALL_INFO = 0x4212

PTRACE_O_TRACESYSGOOD = 1
PTRACE_O_TRACEFORK = 1 << 1
PTRACE_O_TRACEVFORK = 1 << 2
PTRACE_O_TRACECLONE = 1 << 3
PTRACE_O_TRACEEXEC = 1 << 4
PTRACE_O_TRACEVFORKDONE = 1 << 5
PTRACE_O_TRACEEXIT = 1 << 6
PTRACE_O_TRACESECCOMP = 1 << 7
PTRACE_O_EXITKILL = 1 << 20

PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_VFORK_DONE = 5
PTRACE_EVENT_EXIT = 6
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128

OP_NONE, OP_ENTRY, OP_EXIT, OP_SECCOMP = 0, 1, 2, 3

WALL = 0x40000000  # __WALL: wait for threads and non-SIGCHLD children too

STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
SYSCALL_TRAP = signal.SIGTRAP | 0x80  # with PTRACE_O_TRACESYSGOOD


def exit_status(status: int) -> int:
    """A wait status as a shell reports it: the code, or 128 + signal."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return 255


def describe_status(status: int) -> str:
    if os.WIFEXITED(status):
        return f"exited with {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        core = " (core dumped)" if os.WCOREDUMP(status) else ""
        return f"killed by {signal_name(sig)}{core}"
    return f"status {status:#x}"


def signal_name(sig: int) -> str:
    """strace's name for a signal number (kernel numbering: real-time
    signals are SIGRTMIN = 32 and SIGRT_n = 32 + n, whatever glibc reserves)."""
    if sig >= 32:
        return "SIGRTMIN" if sig == 32 else f"SIGRT_{sig - 32}"
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)
