"""Confine's handlers for metadata: chmod, chown, the utime family,
truncate, extended attributes, file_getattr/file_setattr. Path forms act
on the object the walk reached (by fd or /proc/self/fd/N); fd forms
(fchmod, fchown, fsetxattr, fremovexattr) stop only to keep read-only
binds read-only, since those need ownership, not a writable fd."""
from __future__ import annotations

import ctypes
import errno
import os
import stat as _stat
import struct

from ... import _native
from .view import Fail

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536
XATTR_ARGS_SIZE = 16  # struct xattr_args (6.13)
FILE_ATTR_SIZE = 24  # struct file_attr (6.17)
NO_ID16 = 0xFFFF

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_NR_FILE_GETATTR, _NR_FILE_SETATTR = 468, 469  # x86_64 (also i386's numbers)


class Attrs:
    """Mixin of the Confine layer (layer.py provides walk, path, _do...)."""

    def writable_target(self, call, fds, dirfd, pidx, flags) -> int:
        fd = self.target(call, fds, dirfd, pidx, flags)
        self.check_writable(fd)
        return fd

    def check_writable(self, fd: int) -> None:
        """EROFS on a read-only mount of the view; EACCES outside it."""
        m = self.view.mount_of_fd(fd)
        if m is not None and m.readonly:
            raise Fail(errno.EROFS)
        if m is None and not self._is_proc(fd):
            raise Fail(errno.EACCES)

    @staticmethod
    def _is_proc(fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}").startswith("/proc/")
        except OSError:
            return False

    # ---- chmod, chown ------------------------------------------------------------------

    def _chmod(self, call, fds, dirfd, pidx, mode, flags):
        fd = self.writable_target(call, fds, dirfd, pidx, flags)
        if _stat.S_ISLNK(os.fstat(fd).st_mode):
            raise Fail(errno.EOPNOTSUPP)
        os.chmod(f"/proc/self/fd/{fd}", mode & 0o7777)
        return call.ret(0)

    def chmod(self, call):
        return self._do(call, self._chmod, AT_FDCWD, 0, call.args[1], 0)

    def fchmodat(self, call):
        return self._do(call, self._chmod, call.fd_arg(0), 1, call.args[2], 0)

    def fchmodat2(self, call):
        return self._do(call, self._chmod, call.fd_arg(0), 1, call.args[2],
                        call.args[3] & 0xFFFFFFFF)

    def fchmod(self, call):
        def run(call, fds):
            fd = self.fetch(call, fds, call.fd_arg(0))
            self.check_writable(fd)
            os.fchmod(fd, call.args[1] & 0o7777)
            return call.ret(0)
        return self._do(call, run)

    @staticmethod
    def _id(v: int, bits: int) -> int:
        mask = (1 << bits) - 1
        return -1 if v & mask == mask else v & mask

    def _chown(self, call, fds, dirfd, pidx, uid, gid, flags, bits=32):
        fd = self.writable_target(call, fds, dirfd, pidx, flags)
        _native.fchownat(fd, b"", self._id(uid, bits), self._id(gid, bits), AT_EMPTY_PATH)
        return call.ret(0)

    def _bits(self, call) -> int:
        """chown/lchown/fchown of i386 take 16-bit ids (the *32 calls do not)."""
        return 16 if self.layout(call).compat else 32

    def chown(self, call):
        return self._do(call, self._chown, AT_FDCWD, 0, call.args[1], call.args[2], 0,
                        self._bits(call))

    def lchown(self, call):
        return self._do(call, self._chown, AT_FDCWD, 0, call.args[1], call.args[2],
                        AT_SYMLINK_NOFOLLOW, self._bits(call))

    def chown32(self, call):  # i386
        return self._do(call, self._chown, AT_FDCWD, 0, call.args[1], call.args[2], 0)

    def lchown32(self, call):  # i386
        return self._do(call, self._chown, AT_FDCWD, 0, call.args[1], call.args[2],
                        AT_SYMLINK_NOFOLLOW)

    def fchownat(self, call):
        return self._do(call, self._chown, call.fd_arg(0), 1, call.args[2], call.args[3],
                        call.args[4] & 0xFFFFFFFF)

    def _fchown(self, call, bits):
        def run(call, fds):
            fd = self.fetch(call, fds, call.fd_arg(0))
            self.check_writable(fd)
            os.fchown(fd, self._id(call.args[1], bits), self._id(call.args[2], bits))
            return call.ret(0)
        return self._do(call, run)

    def fchown(self, call):
        return self._fchown(call, self._bits(call))

    def fchown32(self, call):  # i386
        return self._fchown(call, 32)

    # ---- times ----------------------------------------------------------------------

    def _times(self, call, fds, dirfd, pidx, times, flags):
        """utimensat with the native timespec[2] (None: now). Path NULL:
        the dirfd itself (futimens)."""
        if call.args[pidx] == 0:
            if dirfd == AT_FDCWD:
                raise Fail(errno.EFAULT)
            fd = self.fetch(call, fds, dirfd)
            self.check_writable(fd)
            _native.utimensat(fd, b"", times, 0)
            return call.ret(0)
        fd = self.writable_target(call, fds, dirfd, pidx, flags)
        _native.utimensat(fd, b"", times, AT_EMPTY_PATH)
        return call.ret(0)

    def _read_times(self, call, addr: int, size: int, convert) -> bytes | None:
        if addr == 0:
            return None
        raw = call.read(addr, size)
        if raw is None or len(raw) != size:
            raise Fail(errno.EFAULT)
        return convert(raw)

    def _utimensat(self, call, time64: bool):
        def run(call, fds):
            lay = self.layout(call)
            times = self._read_times(call, call.args[2], lay.timespec_size(time64),
                                     lambda raw: lay.timespecs(raw, time64))
            flags = call.args[3] & 0xFFFFFFFF
            if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
                raise Fail(errno.EINVAL)
            return self._times(call, fds, call.fd_arg(0), 1, times, flags)
        return self._do(call, run)

    def utimensat(self, call):
        return self._utimensat(call, False)

    def utimensat_time64(self, call):  # i386
        return self._utimensat(call, True)

    def utime(self, call):
        def run(call, fds):
            lay = self.layout(call)
            times = self._read_times(call, call.args[1], lay.utimbuf_size(), lay.utimbuf)
            return self._times(call, fds, AT_FDCWD, 0, times, 0)
        return self._do(call, run)

    def utimes(self, call):
        def run(call, fds):
            lay = self.layout(call)
            times = self._read_times(call, call.args[1], lay.timeval_size(), lay.timevals)
            return self._times(call, fds, AT_FDCWD, 0, times, 0)
        return self._do(call, run)

    def futimesat(self, call):
        def run(call, fds):
            lay = self.layout(call)
            times = self._read_times(call, call.args[2], lay.timeval_size(), lay.timevals)
            return self._times(call, fds, call.fd_arg(0), 1, times, 0)
        return self._do(call, run)

    # ---- truncate ----------------------------------------------------------------------

    def _truncate(self, call, fds, length: int):
        if length < 0:
            raise Fail(errno.EINVAL)
        fd = self.writable_target(call, fds, AT_FDCWD, 0, 0)
        if _stat.S_ISDIR(os.fstat(fd).st_mode):
            raise Fail(errno.EISDIR)
        w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
        fds.append(w)
        os.ftruncate(w, length)
        return call.ret(0)

    def truncate(self, call):
        bits = 32 if self.layout(call).compat else 64
        v = call.args[1] & ((1 << bits) - 1)
        return self._do(call, self._truncate, v - (1 << bits) if v >> (bits - 1) else v)

    def truncate64(self, call):  # i386: the length in two registers
        v = (call.args[1] & 0xFFFFFFFF) | ((call.args[2] & 0xFFFFFFFF) << 32)
        return self._do(call, self._truncate, v - (1 << 64) if v >> 63 else v)

    # ---- extended attributes ----------------------------------------------------------------

    def xattr_target(self, call, fds, dirfd, pidx, flags) -> tuple[str | int, bool, int]:
        """(what os.*xattr acts on, follow_symlinks, an fd of it for the
        read-only check): a program fd (AT_EMPTY_PATH with ""), or
        /proc/self/fd/N of the object the walk reached, or, for a symlink
        itself (the no-follow forms), /proc/self/fd/PARENT/NAME, looked up
        without following (the name cannot lead out of that directory)."""
        path = "" if call.args[pidx] == 0 and flags & AT_EMPTY_PATH else self.path(call, pidx)
        if path == "" and flags & AT_EMPTY_PATH:
            if dirfd == AT_FDCWD:
                fd = self.walk(call, fds, ".", AT_FDCWD).fd
                return f"/proc/self/fd/{fd}", True, fd
            fd = self.fetch(call, fds, dirfd)
            return fd, True, fd
        f = self.walk(call, fds, path, dirfd, follow=not flags & AT_SYMLINK_NOFOLLOW)
        if f.fd < 0:
            raise Fail(errno.ENOENT)
        if _stat.S_ISLNK(f.st.st_mode):
            return f"/proc/self/fd/{f.parent.fd}/{f.name}", False, f.fd
        return f"/proc/self/fd/{f.fd}", True, f.fd

    def _xattr_name(self, call, addr: int) -> str:
        if addr == 0:
            raise Fail(errno.EFAULT)
        r = call.read_str(addr, XATTR_NAME_MAX + 1)
        if r is None:
            raise Fail(errno.EFAULT)
        data, complete = r
        if not complete or not data or len(data) > XATTR_NAME_MAX:
            raise Fail(errno.ERANGE)
        return os.fsdecode(data)

    def _get(self, call, fds, dirfd, pidx, flags, name_addr, value, size):
        name = self._xattr_name(call, name_addr)
        what, follow, _ = self.xattr_target(call, fds, dirfd, pidx, flags)
        data = os.getxattr(what, name, follow_symlinks=follow)
        if size == 0:
            return call.ret(len(data))
        if len(data) > size:
            raise Fail(errno.ERANGE)
        if data:
            self.write_out(call, value, data)
        return call.ret(len(data))

    def _set(self, call, fds, dirfd, pidx, flags, name_addr, value, size, xflags):
        if xflags & ~3:  # XATTR_CREATE, XATTR_REPLACE
            raise Fail(errno.EINVAL)
        if size > XATTR_SIZE_MAX:
            raise Fail(errno.E2BIG)
        name = self._xattr_name(call, name_addr)
        data = b""
        if size:
            data = call.read(value, size)
            if data is None or len(data) != size:
                raise Fail(errno.EFAULT)
        what, follow, fd = self.xattr_target(call, fds, dirfd, pidx, flags)
        self.check_writable(fd)
        os.setxattr(what, name, data, xflags, follow_symlinks=follow)
        return call.ret(0)

    def _list(self, call, fds, dirfd, pidx, flags, buf, size):
        what, follow, _ = self.xattr_target(call, fds, dirfd, pidx, flags)
        data = b"".join(os.fsencode(n) + b"\0" for n in os.listxattr(what, follow_symlinks=follow))
        if size == 0:
            return call.ret(len(data))
        if len(data) > size:
            raise Fail(errno.ERANGE)
        if data:
            self.write_out(call, buf, data)
        return call.ret(len(data))

    def _remove(self, call, fds, dirfd, pidx, flags, name_addr):
        name = self._xattr_name(call, name_addr)
        what, follow, fd = self.xattr_target(call, fds, dirfd, pidx, flags)
        self.check_writable(fd)
        os.removexattr(what, name, follow_symlinks=follow)
        return call.ret(0)

    def getxattr(self, call):
        a = call.args
        return self._do(call, self._get, AT_FDCWD, 0, 0, a[1], a[2], a[3] & 0xFFFFFFFF)

    def lgetxattr(self, call):
        a = call.args
        return self._do(call, self._get, AT_FDCWD, 0, AT_SYMLINK_NOFOLLOW, a[1], a[2],
                        a[3] & 0xFFFFFFFF)

    def setxattr(self, call):
        a = call.args
        return self._do(call, self._set, AT_FDCWD, 0, 0, a[1], a[2], a[3] & 0xFFFFFFFF,
                        a[4] & 0xFFFFFFFF)

    def lsetxattr(self, call):
        a = call.args
        return self._do(call, self._set, AT_FDCWD, 0, AT_SYMLINK_NOFOLLOW, a[1], a[2],
                        a[3] & 0xFFFFFFFF, a[4] & 0xFFFFFFFF)

    def listxattr(self, call):
        a = call.args
        return self._do(call, self._list, AT_FDCWD, 0, 0, a[1], a[2] & 0xFFFFFFFF)

    def llistxattr(self, call):
        a = call.args
        return self._do(call, self._list, AT_FDCWD, 0, AT_SYMLINK_NOFOLLOW, a[1], a[2] & 0xFFFFFFFF)

    def removexattr(self, call):
        return self._do(call, self._remove, AT_FDCWD, 0, 0, call.args[1])

    def lremovexattr(self, call):
        return self._do(call, self._remove, AT_FDCWD, 0, AT_SYMLINK_NOFOLLOW, call.args[1])

    def _fd_xattr(self, call, fn, *args):
        """fsetxattr/fremovexattr: run on our copy of the program's fd, so
        that read-only binds stay read-only (fd forms need no write access)."""
        def run(call, fds):
            fd = self.fetch(call, fds, call.fd_arg(0))
            self.check_writable(fd)
            return fn(call, fd, *args)
        return self._do(call, run)

    def fsetxattr(self, call):
        a = call.args

        def run(call, fd):
            size = a[3] & 0xFFFFFFFF
            if size > XATTR_SIZE_MAX:
                raise Fail(errno.E2BIG)
            data = call.read(a[2], size) if size else b""
            if data is None or len(data) != size:
                raise Fail(errno.EFAULT)
            os.setxattr(fd, self._xattr_name(call, a[1]), data, a[4] & 0xFFFFFFFF)
            return call.ret(0)
        return self._fd_xattr(call, run)

    def fremovexattr(self, call):
        def run(call, fd):
            os.removexattr(fd, self._xattr_name(call, call.args[1]))
            return call.ret(0)
        return self._fd_xattr(call, run)

    def _xattr_args(self, call, usize: int) -> tuple[int, int, int]:
        """struct xattr_args {u64 value; u32 size; u32 flags} (6.13)."""
        if usize < XATTR_ARGS_SIZE or usize > 4096:
            raise Fail(errno.EINVAL)
        raw = call.read(call.args[4], usize)
        if raw is None or len(raw) != usize:
            raise Fail(errno.EFAULT)
        if any(raw[XATTR_ARGS_SIZE:]):
            raise Fail(errno.E2BIG)
        return struct.unpack_from("<QII", raw)

    @staticmethod
    def _at_flags(call) -> int:
        flags = call.args[2] & 0xFFFFFFFF
        if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
            raise Fail(errno.EINVAL)
        return flags

    def getxattrat(self, call):
        def run(call, fds):
            value, size, xflags = self._xattr_args(call, call.args[5])
            if xflags:
                raise Fail(errno.EINVAL)
            return self._get(call, fds, call.fd_arg(0), 1, self._at_flags(call), call.args[3],
                             value, size)
        return self._do(call, run)

    def setxattrat(self, call):
        def run(call, fds):
            value, size, xflags = self._xattr_args(call, call.args[5])
            return self._set(call, fds, call.fd_arg(0), 1, self._at_flags(call), call.args[3],
                             value, size, xflags)
        return self._do(call, run)

    def listxattrat(self, call):
        def run(call, fds):
            return self._list(call, fds, call.fd_arg(0), 1, self._at_flags(call), call.args[3],
                              call.args[4] & 0xFFFFFFFF)
        return self._do(call, run)

    def removexattrat(self, call):
        def run(call, fds):
            return self._remove(call, fds, call.fd_arg(0), 1, self._at_flags(call), call.args[3])
        return self._do(call, run)

    # ---- file_getattr / file_setattr (6.17) ------------------------------------------------

    def _file_attr(self, call, nr: int, writes: bool):
        """The syscall itself on the object the walk reached (by
        /proc/self/fd/N: these calls refuse O_PATH fds)."""
        def run(call, fds):
            usize = call.args[3]
            flags = call.args[4] & 0xFFFFFFFF
            if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
                raise Fail(errno.EINVAL)
            if usize < FILE_ATTR_SIZE or usize > 4096:
                raise Fail(errno.EINVAL)
            what, follow, fd = self.xattr_target(call, fds, call.fd_arg(0), 1, flags)
            if writes:
                self.check_writable(fd)
            buf = ctypes.create_string_buffer(usize)
            if writes:
                raw = call.read(call.args[2], usize)
                if raw is None or len(raw) != usize:
                    raise Fail(errno.EFAULT)
                buf.raw = raw
            if isinstance(what, int):
                r = _syscall(nr, what, b"", buf, ctypes.c_size_t(usize), AT_EMPTY_PATH)
            else:
                r = _syscall(nr, AT_FDCWD, os.fsencode(what), buf, ctypes.c_size_t(usize),
                             0 if follow else AT_SYMLINK_NOFOLLOW)
            if r < 0:
                raise Fail(ctypes.get_errno() or errno.EIO)
            if not writes:
                self.write_out(call, call.args[2], buf.raw[:usize])
            return call.ret(0)
        return self._do(call, run)

    def file_getattr(self, call):
        return self._file_attr(call, _NR_FILE_GETATTR, False)

    def file_setattr(self, call):
        return self._file_attr(call, _NR_FILE_SETATTR, True)
