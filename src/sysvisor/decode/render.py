"""Building blocks of strace's notation: quoted strings, flag sets,
constants, addresses."""
from __future__ import annotations

import re as _re

# strace names only these; other bytes are octal escapes
_ESC = {9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"}
# a byte that is not shown as itself (the fast path of quote() has none)
_SPECIAL = _re.compile(rb'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def quote(data: bytes, limit: int, truncated: bool = False) -> str:
    """`"abc"` with strace's escapes; `"abc"...` when cut at `limit` bytes or
    when the caller says the data was truncated (unterminated string)."""
    shown = data[:limit]
    if _SPECIAL.search(shown) is None:  # printable ASCII, nothing to escape: most strings
        s = '"' + shown.decode("ascii") + '"'
        if len(data) > limit or truncated:
            s += "..."
        return s
    out = []
    n = len(shown)
    for i, b in enumerate(shown):
        if b in _ESC:
            out.append(_ESC[b])
        elif 32 <= b < 127:
            out.append(chr(b))
        else:
            # strace: the shortest octal form, unless an octal digit follows
            nxt = shown[i + 1] if i + 1 < n else None
            if nxt is not None and 48 <= nxt <= 55:
                out.append(f"\\{b:03o}")
            else:
                out.append(f"\\{b:o}")
    s = '"' + "".join(out) + '"'
    if len(data) > limit or truncated:
        s += "..."
    return s


def flags(value: int, table, zero: str | None = None) -> str:
    """Render a bit set: `O_WRONLY|O_CREAT|0x40000000`. `table` is a
    sequence of (bits, name) in display order; entries may be multi-bit."""
    if value == 0:
        return zero if zero is not None else "0"
    parts = []
    rest = value
    for bits, name in table:
        if bits and rest & bits == bits:
            parts.append(name)
            rest &= ~bits
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


def const(value: int, table: dict, fallback: str | None = None) -> str:
    """A constant by name, or the number (strace prints unknown values as
    numbers, hex for large ones)."""
    name = table.get(value)
    if name is not None:
        return name
    if fallback is not None:
        return fallback
    return str(value) if -1000 < value < 1000 else hex(value)


def addr(value: int) -> str:
    return "NULL" if value == 0 else hex(value)
