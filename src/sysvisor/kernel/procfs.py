"""Small /proc lookups shared by the engines and layers."""
from __future__ import annotations


def tgid(tid: int) -> int:
    """The thread group (process) id of a thread; `tid` itself if it is gone."""
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return tid
