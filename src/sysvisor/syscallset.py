"""strace's syscall set syntax: `-e trace=SET`.

A SET is a comma-separated list of: names (`openat`), classes (`%file`,
`%net`...), regexes (`/^stat`), and `all` / `none`; a leading `!` negates
the whole set. Unknown names are errors with close matches suggested,
unless prefixed with `?` (strace's "ignore if unknown").
"""
from __future__ import annotations

import difflib
import re

from .errors import UsageError
from .tables import CLASSES, SyscallTable

# strace accepts these spellings for classes
CLASS_ALIASES = {"net": "network", "network": "network", "desc": "desc", "file": "file",
                 "process": "process", "signal": "signal", "ipc": "ipc", "memory": "memory",
                 "creds": "creds", "clock": "clock", "stat": "stat", "lstat": "lstat",
                 "fstat": "fstat", "statfs": "statfs", "pure": "pure",
                 "%stat": "stat", "%lstat": "lstat", "%fstat": "fstat", "%statfs": "statfs"}


class SyscallSet:
    """A resolved set: the syscall numbers it holds per arch table, and
    whether it also holds numbers no table knows (`all` and negations)."""

    def __init__(self, spec: str):
        self.spec = spec
        s = spec.strip()
        self.negated = s.startswith("!")
        if self.negated:
            s = s[1:]
        self.items = [i.strip() for i in s.split(",") if i.strip()] if s else []
        if not self.items and not self.negated:
            raise UsageError(f"empty syscall set {spec!r}")
        for item in self.items:  # validate the syntax early (regexes)
            if item.startswith("/"):
                try:
                    re.compile(item[1:])
                except re.error as e:
                    raise UsageError(f"invalid regular expression {item[1:]!r}: {e}") from None
            elif item.startswith("%"):
                cls = item[1:]
                if cls not in CLASS_ALIASES:
                    raise UsageError(f"unknown syscall class {item!r}; classes: "
                                     + ", ".join("%" + c for c in CLASSES))

    def numbers(self, table: SyscallTable, strict: bool = True) -> tuple[set[int], bool]:
        """(numbers, includes_unknown_numbers) for this table."""
        chosen: set[int] = set()
        everything = False
        for item in self.items:
            if item in ("all", "%all"):
                everything = True
                continue
            if item == "none":
                continue
            optional = item.startswith("?")
            name = item[1:] if optional else item
            if name.startswith("/"):
                rx = re.compile(name[1:])
                chosen |= {sc.nr for sc in table if rx.search(sc.name)}
            elif name.startswith("%"):
                chosen |= {sc.nr for sc in table.in_class(CLASS_ALIASES[name[1:]])}
            elif name in table.by_name:
                chosen.add(table.by_name[name].nr)
            elif strict and not optional:
                close = difflib.get_close_matches(name, list(table.by_name), 3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise UsageError(f"unknown syscall {name!r} for {table.arch}{hint}")
        if everything:
            chosen = {sc.nr for sc in table}
        if self.negated:
            return {sc.nr for sc in table} - chosen, not everything
        return chosen, everything
