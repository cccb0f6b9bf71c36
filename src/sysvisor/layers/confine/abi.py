"""The structures Confine writes into (or reads from) the program's memory,
per ABI: x86_64, and i386 as the x86_64 kernel's compat layer lays them out
(arch/x86/include/asm/compat.h, fs/stat.c, fs/statfs.c, kernel/time). The
overflow rules are the kernel's: where it would fail with EOVERFLOW, so do
these (OSError)."""
from __future__ import annotations

import errno
import os
import struct

from ...arch import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64

MAX_NON_LFS = (1 << 31) - 1
OVERFLOW_ID = 65534  # what a 16-bit uid/gid field shows for a larger id
UTIME_OMIT = (1 << 30) - 2


def _overflow():
    return OSError(errno.EOVERFLOW, os.strerror(errno.EOVERFLOW))


def _ts(ns: int) -> tuple[int, int]:
    return ns // 1_000_000_000, ns % 1_000_000_000


def _old_dev(dev: int) -> int:
    """old_encode_dev: 8-bit major and minor."""
    return (os.major(dev) << 8) | os.minor(dev)


def _id16(i: int) -> int:
    return i if i < 65536 else OVERFLOW_ID


def stat_x86_64(st) -> bytes:
    """struct stat (x86_64, 144 bytes)."""
    a, m, c = _ts(st.st_atime_ns), _ts(st.st_mtime_ns), _ts(st.st_ctime_ns)
    return struct.pack("<3Q4IQ3q6q3q", st.st_dev, st.st_ino, st.st_nlink, st.st_mode,
                       st.st_uid, st.st_gid, 0, st.st_rdev, st.st_size, st.st_blksize,
                       st.st_blocks, *a, *m, *c, 0, 0, 0)


def stat_i386(st) -> bytes:
    """struct compat_stat (i386 stat/lstat, 64 bytes), cp_compat_stat."""
    if st.st_ino >= 1 << 32 or st.st_nlink >= 1 << 16 or st.st_size > MAX_NON_LFS:
        raise _overflow()
    a, m, c = _ts(st.st_atime_ns), _ts(st.st_mtime_ns), _ts(st.st_ctime_ns)
    return struct.pack("<IIHHHHIIII6III", st.st_dev & 0xFFFFFFFF, st.st_ino, st.st_mode,
                       st.st_nlink, _id16(st.st_uid), _id16(st.st_gid), st.st_rdev & 0xFFFFFFFF,
                       st.st_size, st.st_blksize, st.st_blocks & 0xFFFFFFFF,
                       a[0] & 0xFFFFFFFF, a[1], m[0] & 0xFFFFFFFF, m[1], c[0] & 0xFFFFFFFF, c[1],
                       0, 0)


def stat64_i386(st) -> bytes:
    """struct stat64 (i386, packed, 96 bytes), cp_stat64."""
    a, m, c = _ts(st.st_atime_ns), _ts(st.st_mtime_ns), _ts(st.st_ctime_ns)
    return struct.pack("<Q4xIIIIIQ4xqIQIIIIIIQ", st.st_dev, st.st_ino & 0xFFFFFFFF, st.st_mode,
                       st.st_nlink, st.st_uid, st.st_gid, st.st_rdev, st.st_size, st.st_blksize,
                       st.st_blocks, a[0] & 0xFFFFFFFF, a[1], m[0] & 0xFFFFFFFF, m[1],
                       c[0] & 0xFFFFFFFF, c[1], st.st_ino)


def oldstat_i386(st) -> bytes:
    """struct __old_kernel_stat (i386 oldstat/oldlstat, 32 bytes), cp_old_stat."""
    if st.st_ino >= 1 << 16 or st.st_nlink >= 1 << 16:
        raise _overflow()
    return struct.pack("<7H2x4I", _old_dev(st.st_dev), st.st_ino, st.st_mode, st.st_nlink,
                       _id16(st.st_uid), _id16(st.st_gid), _old_dev(st.st_rdev),
                       st.st_size & 0xFFFFFFFF, int(st.st_atime) & 0xFFFFFFFF,
                       int(st.st_mtime) & 0xFFFFFFFF, int(st.st_ctime) & 0xFFFFFFFF)


_STATFS = struct.Struct("<7q2i3q4q")  # the native struct statfs (x86_64, 120 bytes)


def statfs_i386(raw: bytes) -> bytes:
    """struct compat_statfs (i386 statfs, 64 bytes), put_compat_statfs."""
    f = _STATFS.unpack(raw[:_STATFS.size])
    ftype, bsize, blocks, bfree, bavail, files, ffree, fsid0, fsid1, namelen, frsize, flags = f[:12]
    if (blocks | bfree | bavail | bsize | frsize) >> 32:
        raise _overflow()
    for n in (files, ffree):
        if n != -1 and n >> 32:
            raise _overflow()
    return struct.pack("<7I2i3I4I", ftype & 0xFFFFFFFF, bsize, blocks, bfree, bavail,
                       files & 0xFFFFFFFF, ffree & 0xFFFFFFFF, fsid0, fsid1, namelen, frsize,
                       flags & 0xFFFFFFFF, 0, 0, 0, 0)


STATFS64_I386_SIZE = 84


def statfs64_i386(raw: bytes) -> bytes:
    """struct compat_statfs64 (i386 statfs64, packed, 84 bytes)."""
    f = _STATFS.unpack(raw[:_STATFS.size])
    ftype, bsize, blocks, bfree, bavail, files, ffree, fsid0, fsid1, namelen, frsize, flags = f[:12]
    if (bsize | frsize) >> 32:
        raise _overflow()
    m = 0xFFFFFFFFFFFFFFFF
    return struct.pack("<II5Q2iIII4I", ftype & 0xFFFFFFFF, bsize, blocks, bfree, bavail,
                       files & m, ffree & m, fsid0, fsid1, namelen, frsize, flags & 0xFFFFFFFF,
                       0, 0, 0, 0)


class Layout:
    """How one ABI lays out what Confine reads and writes: struct stat for
    stat/lstat, 64-bit stat for *stat64, struct statfs, and the time
    structs of utimensat/utimes/utime (read and turned into the native
    struct timespec[2] that _native.utimensat takes)."""

    def __init__(self, audit: int):
        self.audit = audit
        self.compat = audit == AUDIT_ARCH_I386
        self.long = 4 if self.compat else 8
        self.stat = stat_i386 if self.compat else stat_x86_64

    def timespec_size(self, time64: bool) -> int:
        """sizeof(struct timespec[2]) of utimensat (time64: utimensat_time64)."""
        return 16 if self.compat and not time64 else 32

    def timespecs(self, raw: bytes, time64: bool) -> bytes:
        """utimensat's times, as the native timespec[2]."""
        if self.compat and not time64:
            s0, n0, s1, n1 = struct.unpack("<4i", raw)
        else:
            s0, n0, s1, n1 = struct.unpack("<4q", raw)
            if self.compat:  # get_timespec64 ignores the upper half of tv_nsec
                n0 &= 0xFFFFFFFF
                n1 &= 0xFFFFFFFF
        return struct.pack("<4q", s0, n0, s1, n1)

    def timeval_size(self) -> int:
        return 4 * self.long

    def timevals(self, raw: bytes) -> bytes:
        """utimes/futimesat's struct timeval[2] as the native timespec[2]
        (EINVAL for microseconds out of range, as do_futimesat)."""
        s0, u0, s1, u1 = struct.unpack("<4i" if self.compat else "<4q", raw)
        if not (0 <= u0 < 1_000_000 and 0 <= u1 < 1_000_000):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return struct.pack("<4q", s0, u0 * 1000, s1, u1 * 1000)

    def utimbuf_size(self) -> int:
        return 2 * self.long

    def utimbuf(self, raw: bytes) -> bytes:
        """utime's struct utimbuf as the native timespec[2] (whole seconds)."""
        a, m = struct.unpack("<2i" if self.compat else "<2q", raw)
        return struct.pack("<4q", a, 0, m, 0)


LAYOUTS = {AUDIT_ARCH_X86_64: Layout(AUDIT_ARCH_X86_64), AUDIT_ARCH_I386: Layout(AUDIT_ARCH_I386)}
