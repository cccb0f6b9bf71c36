"""What the subcommands that run a program share: the command or -p PIDs,
and running a session over them."""
from __future__ import annotations

import sys


def command_or_pids(args, name: str) -> list[str]:
    """The command after `--`, checked against -p (one or the other)."""
    from ..errors import UsageError

    cmd = list(args.command or [])
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    pids = getattr(args, "pids", [])
    if not cmd and not pids:
        raise UsageError(f"must have a command to run or -p PID (see sysvisor {name} --help)")
    if cmd and pids:
        raise UsageError("give a command or -p PID, not both")
    return cmd


def run_session(layers, method: str, cmd: list[str], pids: list[int], name: str,
                insecure: bool = False) -> int:
    """Spawn `cmd` or attach to `pids` under `layers`; the exit status."""
    from ..session import Session

    if pids and method == "auto":
        method = "ptrace"
    with Session(layers, method=method, attach=bool(pids), insecure=insecure) as s:
        if cmd:
            s.spawn(cmd)
        for pid in pids:
            s.attach(pid)
            sys.stderr.write(f"sysvisor {name}: Process {pid} attached\n")
        status = s.run()
        for pid in pids:
            sys.stderr.write(f"sysvisor {name}: Process {pid} detached\n")
        return status
