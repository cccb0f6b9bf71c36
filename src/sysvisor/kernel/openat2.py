"""openat2(2) (Linux 5.6): race-free path resolution under a directory fd.

    fd = openat2(rootfd, "etc/passwd", os.O_RDONLY, resolve=RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

No policy lives here (see layers/confine.py for how the confinement layer
uses it).
"""
from __future__ import annotations

import errno
import os

from .. import _native

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = 0x20
RESOLVE_ALL = 0x3F


def openat2(dirfd: int, path: str | bytes, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """The new fd (the caller closes it). OSError with the kernel's errno;
    EXDEV/ELOOP mean a RESOLVE_* restriction refused the path."""
    return _native.openat2(dirfd, os.fsencode(path), flags & 0xFFFFFFFFFFFFFFFF, mode, resolve)


_available: bool | None = None


def available() -> bool:
    """openat2 works here (Linux 5.6+, not refused by a seccomp policy)."""
    global _available
    if _available is None:
        try:
            os.close(openat2(-100, "/", os.O_PATH | os.O_CLOEXEC, 0, RESOLVE_NO_MAGICLINKS))
            _available = True
        except OSError as e:
            _available = e.errno not in (errno.ENOSYS, errno.EPERM, errno.EINVAL)
    return _available
