"""Confine's handlers for names: the open family, the stat family, access,
readlink, the cwd, creating, removing, renaming and linking, inotify. Each
walks the view (view.py) and acts on the object it reached, by fd."""
from __future__ import annotations

import errno
import os
import stat as _stat
import struct

from ... import _native
from ...kernel.openat2 import RESOLVE_CACHED, openat2
from . import abi
from .view import STEP, Fail

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
AT_EACCESS = 0x200
AT_STATX_SYNC_TYPE = 0x6000
O_TMPFILE = 0o20000000 | os.O_DIRECTORY
IN_DONT_FOLLOW = 0x02000000


class Files:
    """Mixin of the Confine layer (layer.py provides walk, path, _do...)."""

    # ---- what a call names ------------------------------------------------------------

    def target(self, call, fds, dirfd, pidx, flags, follow_default=True) -> int:
        """O_PATH fd of what a *at call with AT_EMPTY_PATH/AT_SYMLINK_NOFOLLOW
        names (a fetched program fd for AT_EMPTY_PATH with "")."""
        path = "" if call.args[pidx] == 0 and flags & AT_EMPTY_PATH else self.path(call, pidx)
        if path == "" and flags & AT_EMPTY_PATH:
            if dirfd == AT_FDCWD:
                return self.walk(call, fds, ".", AT_FDCWD).fd
            return self.fetch(call, fds, dirfd)
        follow = follow_default and not flags & AT_SYMLINK_NOFOLLOW
        if path[:1] == "/":
            fast = self.view.fast_open(path, os.O_PATH | (0 if follow else os.O_NOFOLLOW))
            if fast is not None:
                fds.append(fast[0])
                return fast[0]
        f = self.walk(call, fds, path, dirfd, follow)
        if f.fd < 0:
            raise Fail(errno.ENOENT)
        return f.fd

    def fetch(self, call, fds, fd: int) -> int:
        """Our copy of the program's fd (closed with fds)."""
        try:
            c = call.pidfd_getfd(fd)
        except OSError:
            raise Fail(errno.EBADF) from None
        fds.append(c)
        return c

    def write_out(self, call, addr: int, data: bytes) -> None:
        if addr == 0 or call.write(addr, data) != len(data):
            raise Fail(errno.EFAULT)

    # ---- open -----------------------------------------------------------------

    def open(self, call):
        return self._do(call, self._open, AT_FDCWD, 0, call.args[1], call.args[2], 0)

    def openat(self, call):
        return self._do(call, self._open, call.fd_arg(0), 1, call.args[2], call.args[3], 0)

    def creat(self, call):
        return self._do(call, self._open, AT_FDCWD, 0,
                        os.O_CREAT | os.O_WRONLY | os.O_TRUNC, call.args[1], 0)

    def openat2(self, call):
        def run(call, fds):
            size = call.args[3]
            if size < 24:
                raise Fail(errno.EINVAL)
            data = call.read(call.args[2], min(size, 4096))
            if data is None or len(data) < min(size, 4096):
                raise Fail(errno.EFAULT)
            if any(data[24:]):
                raise Fail(errno.E2BIG)
            flags, mode, resolve = struct.unpack_from("<QQQ", data)
            if resolve & ~0x3F:
                raise Fail(errno.EINVAL)
            if resolve & RESOLVE_CACHED:
                raise Fail(errno.EAGAIN)  # callers retry without
            return self._open(call, fds, call.fd_arg(0), 1, flags, mode, resolve)
        return self._do(call, run)

    def _open(self, call, fds, dirfd, pidx, flags, mode, resolve):
        flags &= 0xFFFFFFFF
        path = self.path(call, pidx)
        acc = flags & os.O_ACCMODE
        tmpfile = (flags & O_TMPFILE) == O_TMPFILE
        create = bool(flags & os.O_CREAT) and not tmpfile
        excl = create and bool(flags & os.O_EXCL)
        follow = not (flags & os.O_NOFOLLOW) and not excl
        writes = acc != os.O_RDONLY or flags & os.O_TRUNC or tmpfile
        if not resolve and path[:1] == "/" and not flags & (os.O_CREAT | O_TMPFILE | os.O_PATH):
            s = self.view.simple(path)
            if s is not None and not (writes and s[0].readonly):
                fast = self.view.fast_open(path, flags | os.O_NOCTTY)
                if fast is not None:
                    return call.inject_fd(fast[0], cloexec=bool(flags & os.O_CLOEXEC), take=True)
        for _attempt in range(4):
            f = self.walk(call, fds, path, dirfd, follow, resolve)
            if tmpfile:
                if f.fd < 0:
                    raise Fail(errno.ENOENT)
                if f.mount.readonly:
                    raise Fail(errno.EROFS)
                umask = self.umask_of(call)
                fd = os.open(f"/proc/self/fd/{f.fd}", (flags & ~os.O_NOFOLLOW) | os.O_CLOEXEC,
                             mode & ~umask & 0o7777)
                fds.append(fd)
                self.fixmode(call, fd, mode, umask)
                return call.inject_fd(fd, cloexec=bool(flags & os.O_CLOEXEC))
            if f.fd < 0:
                if not create:
                    raise Fail(errno.ENOENT)
                if f.parent is None:
                    raise Fail(errno.EISDIR)
                if f.parent.mount.readonly:
                    raise Fail(errno.EROFS)
                if path.endswith("/"):
                    raise Fail(errno.EISDIR)
                umask = self.umask_of(call)
                try:
                    fd = openat2(f.parent.fd, f.name,
                                 flags | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY,
                                 mode & ~umask & 0o7777, STEP)
                except OSError as e:
                    if e.errno in (errno.EEXIST, errno.ELOOP) and not (excl and e.errno == errno.EEXIST):
                        continue  # created meanwhile: walk again
                    raise
                fds.append(fd)
                self.fixmode(call, fd, mode, umask)
                return call.inject_fd(fd, cloexec=bool(flags & os.O_CLOEXEC))
            if excl:
                raise Fail(errno.EEXIST)
            if _stat.S_ISLNK(f.st.st_mode):  # O_NOFOLLOW on a symlink
                # no O_PATH fd can be handed over (path_fd); glibc's
                # fchmodat(AT_SYMLINK_NOFOLLOW) opens one only to say
                # EOPNOTSUPP for a symlink, which is what it then says
                raise Fail(errno.EOPNOTSUPP if flags & os.O_PATH else errno.ELOOP)
            if writes and f.mount.readonly:
                raise Fail(errno.EROFS)
            if flags & os.O_DIRECTORY and not _stat.S_ISDIR(f.st.st_mode):
                raise Fail(errno.ENOTDIR)
            if _stat.S_ISDIR(f.st.st_mode) and (acc != os.O_RDONLY or flags & os.O_TRUNC) \
                    and not flags & os.O_PATH:
                raise Fail(errno.EISDIR)
            if f.mount.kind == "proc" and f.name == "mem" and acc != os.O_RDONLY:
                # a writable /proc/self/mem fd, passed to another process, could
                # rewrite an exec path after the check (execs.py)
                raise Fail(errno.EACCES)
            fd = self._reopen(f, flags)
            fds.append(fd)
            return call.inject_fd(fd, cloexec=bool(flags & os.O_CLOEXEC))
        raise Fail(errno.EAGAIN)

    def _reopen(self, found, flags: int) -> int:
        """Open the walked object itself (no second lookup)."""
        flags = (flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | O_TMPFILE)) | os.O_CLOEXEC \
            | os.O_NOCTTY
        if flags & os.O_PATH:
            return self.path_fd(found.fd, found.st)
        return os.open(f"/proc/self/fd/{found.fd}", flags)

    @staticmethod
    def path_fd(fd: int, st) -> int:
        """A transferable stand-in for an O_PATH fd: NOTIF_ADDFD cannot pass
        O_PATH files (the kernel's fget() skips them), so directories and
        regular files are opened read-only (needs read permission); other
        kinds (devices, FIFOs, sockets, symlinks) would be opened for real
        or cannot be: ENXIO."""
        if _stat.S_ISDIR(st.st_mode):
            return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if _stat.S_ISREG(st.st_mode):
            return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        raise Fail(errno.ENXIO)

    # ---- stat family ------------------------------------------------------------

    def _stat_into(self, call, fds, dirfd, pidx, flags, buf_idx, pack):
        if flags & AT_EMPTY_PATH and dirfd >= 0 and call.read(call.args[pidx], 1) == b"\0":
            st = self.fd_stat(call, dirfd)  # fstat(), the way glibc makes it
        else:
            st = os.stat(self.target(call, fds, dirfd, pidx, flags))
        self.write_out(call, call.args[buf_idx], pack(st))
        return call.ret(0)

    def fd_stat(self, call, fd: int):
        """stat of one of the program's fds, through /proc (one lookup, no
        fd fetched); the notification still pending afterwards means the
        thread was the caller's."""
        try:
            st = os.stat(f"/proc/{call.tid}/fd/{fd}")
        except FileNotFoundError:
            raise Fail(errno.EBADF) from None
        if not self.valid(call):
            raise Fail(errno.ESRCH)
        return st

    def stat(self, call):
        return self._do(call, self._stat_into, AT_FDCWD, 0, 0, 1, self.layout(call).stat)

    def lstat(self, call):
        return self._do(call, self._stat_into, AT_FDCWD, 0, AT_SYMLINK_NOFOLLOW, 1,
                        self.layout(call).stat)

    def newfstatat(self, call):
        return self._do(call, self._stat_into, call.fd_arg(0), 1, call.args[3] & 0xFFFFFFFF, 2,
                        abi.stat_x86_64)

    def stat64(self, call):  # i386
        return self._do(call, self._stat_into, AT_FDCWD, 0, 0, 1, abi.stat64_i386)

    def lstat64(self, call):  # i386
        return self._do(call, self._stat_into, AT_FDCWD, 0, AT_SYMLINK_NOFOLLOW, 1, abi.stat64_i386)

    def fstatat64(self, call):  # i386
        return self._do(call, self._stat_into, call.fd_arg(0), 1, call.args[3] & 0xFFFFFFFF, 2,
                        abi.stat64_i386)

    def oldstat(self, call):  # i386
        return self._do(call, self._stat_into, AT_FDCWD, 0, 0, 1, abi.oldstat_i386)

    def oldlstat(self, call):  # i386
        return self._do(call, self._stat_into, AT_FDCWD, 0, AT_SYMLINK_NOFOLLOW, 1, abi.oldstat_i386)

    def statx(self, call):
        def run(call, fds):
            flags = call.args[2] & 0xFFFFFFFF
            fd = self.target(call, fds, call.fd_arg(0), 1, flags)
            raw = _native.statx(fd, b"", AT_EMPTY_PATH | (flags & AT_STATX_SYNC_TYPE),
                                call.args[3] & 0xFFFFFFFF)
            self.write_out(call, call.args[4], raw)
            return call.ret(0)
        return self._do(call, run)

    def statfs(self, call):
        def run(call, fds):
            fd = self.target(call, fds, AT_FDCWD, 0, 0)
            raw = _native.fstatfs_raw(fd)
            self.write_out(call, call.args[1], abi.statfs_i386(raw) if self.layout(call).compat
                           else raw)
            return call.ret(0)
        return self._do(call, run)

    def statfs64(self, call):  # i386: statfs64(path, size, buf)
        def run(call, fds):
            if call.args[1] != abi.STATFS64_I386_SIZE:
                raise Fail(errno.EINVAL)
            fd = self.target(call, fds, AT_FDCWD, 0, 0)
            self.write_out(call, call.args[2], abi.statfs64_i386(_native.fstatfs_raw(fd)))
            return call.ret(0)
        return self._do(call, run)

    # ---- access, readlink, cwd ---------------------------------------------------

    def _access(self, call, fds, dirfd, pidx, mode, flags):
        fd = self.target(call, fds, dirfd, pidx, flags)
        if mode & ~7:
            raise Fail(errno.EINVAL)
        if mode & os.W_OK:
            m = self.view.mount_of_fd(fd)
            if m is not None and m.readonly:
                raise Fail(errno.EROFS)
        if mode and not os.access(f"/proc/self/fd/{fd}", mode, effective_ids=True):
            raise Fail(errno.EACCES)
        return call.ret(0)

    def access(self, call):
        return self._do(call, self._access, AT_FDCWD, 0, call.args[1] & 0xFFFFFFFF, 0)

    def faccessat(self, call):
        return self._do(call, self._access, call.fd_arg(0), 1, call.args[2] & 0xFFFFFFFF, 0)

    def faccessat2(self, call):
        flags = call.args[3] & 0xFFFFFFFF & ~AT_EACCESS
        return self._do(call, self._access, call.fd_arg(0), 1, call.args[2] & 0xFFFFFFFF, flags)

    def _readlink(self, call, fds, dirfd, pidx, buf_idx, size_idx):
        size = call.args[size_idx] & 0xFFFFFFFF
        if size == 0 or size > 0x7FFFFFFF:
            raise Fail(errno.EINVAL)
        f = self.walk(call, fds, self.path(call, pidx), dirfd, follow=False)
        if f.fd < 0:
            raise Fail(errno.ENOENT)
        if not _stat.S_ISLNK(f.st.st_mode):
            raise Fail(errno.EINVAL)
        text = os.readlink("", dir_fd=f.fd)
        if f.parent is not None and f.parent.mount.kind == "proc":
            from .layer import _Proc

            text = _Proc(self, call).link(f.parent, f.name, text)
        data = os.fsencode(text)[:size]
        self.write_out(call, call.args[buf_idx], data)
        return call.ret(len(data))

    def readlink(self, call):
        return self._do(call, self._readlink, AT_FDCWD, 0, 1, 2)

    def readlinkat(self, call):
        return self._do(call, self._readlink, call.fd_arg(0), 1, 2, 3)

    def getcwd(self, call):
        def run(call, fds):
            data = os.fsencode(self.cwd_guest(call)) + b"\0"
            if call.args[1] < len(data):
                raise Fail(errno.ERANGE)
            self.write_out(call, call.args[0], data)
            return call.ret(len(data))
        return self._do(call, run)

    def chdir(self, call):
        def run(call, fds):
            f = self.walk(call, fds, self.path(call, 0))
            if f.fd < 0:
                raise Fail(errno.ENOENT)
            return self._enter(call, f.fd)
        return self._do(call, run)

    def fchdir(self, call):
        def run(call, fds):
            return self._enter(call, self.fetch(call, fds, call.fd_arg(0)))
        return self._do(call, run)

    def _enter(self, call, fd):
        if not _stat.S_ISDIR(os.fstat(fd).st_mode):
            raise Fail(errno.ENOTDIR)
        if not os.access(f"/proc/self/fd/{fd}", os.X_OK, effective_ids=True):
            raise Fail(errno.EACCES)
        if self.view.fd_guest(fd) is None:
            raise Fail(errno.EACCES)
        d = self.path_fd(fd, os.fstat(fd))  # O_PATH fds cannot be added
        try:
            self.addfd_at(call, d, self.cwd_fd)
        finally:
            os.close(d)
        return call.ret(0)

    # ---- creating and removing ---------------------------------------------------

    def new_entry(self, call, fds, dirfd, pidx):
        """Where a new entry goes: the parent must exist, the entry not."""
        f = self.walk(call, fds, self.path(call, pidx), dirfd, follow=False)
        if f.fd >= 0 or f.name is None:
            raise Fail(errno.EEXIST)
        if f.parent.mount.readonly:
            raise Fail(errno.EROFS)
        return f

    def _mkdir(self, call, fds, dirfd, pidx, mode):
        f = self.new_entry(call, fds, dirfd, pidx)
        umask = self.umask_of(call)
        os.mkdir(f.name, mode & ~umask & 0o7777, dir_fd=f.parent.fd)
        if (mode & ~umask & 0o7777) & self.creds.umask:
            fd = openat2(f.parent.fd, f.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0, STEP)
            fds.append(fd)
            os.fchmod(fd, mode & ~umask & 0o7777)
        return call.ret(0)

    def mkdir(self, call):
        return self._do(call, self._mkdir, AT_FDCWD, 0, call.args[1] & 0o7777)

    def mkdirat(self, call):
        return self._do(call, self._mkdir, call.fd_arg(0), 1, call.args[2] & 0o7777)

    def _mknod(self, call, fds, dirfd, pidx, mode):
        kind = _stat.S_IFMT(mode)
        if kind not in (0, _stat.S_IFREG, _stat.S_IFIFO, _stat.S_IFSOCK):
            raise Fail(errno.EPERM)  # device nodes: never on the program's behalf
        f = self.new_entry(call, fds, dirfd, pidx)
        umask = self.umask_of(call)
        os.mknod(f.name, (kind or _stat.S_IFREG) | (mode & ~umask & 0o7777), 0, dir_fd=f.parent.fd)
        return call.ret(0)

    def mknod(self, call):
        return self._do(call, self._mknod, AT_FDCWD, 0, call.args[1] & 0xFFFFFFFF)

    def mknodat(self, call):
        return self._do(call, self._mknod, call.fd_arg(0), 1, call.args[2] & 0xFFFFFFFF)

    def existing_entry(self, call, fds, dirfd, pidx):
        f = self.walk(call, fds, self.path(call, pidx), dirfd, follow=False)
        if f.fd < 0:
            raise Fail(errno.ENOENT)
        if f.name is None or f.parent is None:
            raise Fail(errno.EBUSY)  # "/" or a mount point
        if f.parent.mount is not f.mount or f.parent.mount.kind != "dir":
            raise Fail(errno.EBUSY if f.parent.mount.kind == "dir" else errno.EPERM)
        if f.parent.mount.readonly:
            raise Fail(errno.EROFS)
        return f

    def _unlink(self, call, fds, dirfd, pidx, flags):
        if flags & ~AT_REMOVEDIR:
            raise Fail(errno.EINVAL)
        f = self.existing_entry(call, fds, dirfd, pidx)
        if flags & AT_REMOVEDIR:
            os.rmdir(f.name, dir_fd=f.parent.fd)
        else:
            os.unlink(f.name, dir_fd=f.parent.fd)
        return call.ret(0)

    def unlink(self, call):
        return self._do(call, self._unlink, AT_FDCWD, 0, 0)

    def rmdir(self, call):
        return self._do(call, self._unlink, AT_FDCWD, 0, AT_REMOVEDIR)

    def unlinkat(self, call):
        return self._do(call, self._unlink, call.fd_arg(0), 1, call.args[2] & 0xFFFFFFFF)

    def _rename(self, call, fds, odir, oidx, ndir, nidx, flags):
        old = self.existing_entry(call, fds, odir, oidx)
        new = self.walk(call, fds, self.path(call, nidx), ndir, follow=False)
        if new.parent is None or new.name is None:
            raise Fail(errno.EBUSY)
        if new.parent.mount is not old.parent.mount:
            raise Fail(errno.EXDEV)  # across binds, like across mounts
        if new.fd >= 0 and new.mount is not new.parent.mount:
            raise Fail(errno.EBUSY)
        _native.renameat2(old.parent.fd, os.fsencode(old.name), new.parent.fd,
                          os.fsencode(new.name), flags)
        return call.ret(0)

    def rename(self, call):
        return self._do(call, self._rename, AT_FDCWD, 0, AT_FDCWD, 1, 0)

    def renameat(self, call):
        return self._do(call, self._rename, call.fd_arg(0), 1, call.fd_arg(2), 3, 0)

    def renameat2(self, call):
        return self._do(call, self._rename, call.fd_arg(0), 1, call.fd_arg(2), 3,
                        call.args[4] & 0xFFFFFFFF)

    def _link(self, call, fds, odir, oidx, ndir, nidx, flags):
        if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
            raise Fail(errno.EINVAL)
        if flags & AT_EMPTY_PATH:
            raise Fail(errno.ENOENT)  # needs CAP_DAC_READ_SEARCH in the kernel too
        old = self.walk(call, fds, self.path(call, oidx), odir,
                        follow=bool(flags & AT_SYMLINK_FOLLOW))
        if old.fd < 0:
            raise Fail(errno.ENOENT)
        if _stat.S_ISDIR(old.st.st_mode):
            raise Fail(errno.EPERM)
        new = self.new_entry(call, fds, ndir, nidx)
        if new.parent.mount is not old.mount or old.mount.kind != "dir":
            raise Fail(errno.EXDEV)
        os.link(f"/proc/self/fd/{old.fd}", new.name, dst_dir_fd=new.parent.fd,
                follow_symlinks=True)
        return call.ret(0)

    def link(self, call):
        return self._do(call, self._link, AT_FDCWD, 0, AT_FDCWD, 1, 0)

    def linkat(self, call):
        return self._do(call, self._link, call.fd_arg(0), 1, call.fd_arg(2), 3,
                        call.args[4] & 0xFFFFFFFF)

    def _symlink(self, call, fds, tidx, ndir, nidx):
        target = self.path(call, tidx)  # stored verbatim
        new = self.new_entry(call, fds, ndir, nidx)
        os.symlink(target, new.name, dir_fd=new.parent.fd)
        return call.ret(0)

    def symlink(self, call):
        return self._do(call, self._symlink, 0, AT_FDCWD, 1)

    def symlinkat(self, call):
        return self._do(call, self._symlink, 0, call.fd_arg(1), 2)

    # ---- inotify ---------------------------------------------------------------------------

    def inotify_add_watch(self, call):
        def run(call, fds):
            mask = call.args[2] & 0xFFFFFFFF
            f = self.walk(call, fds, self.path(call, 1), AT_FDCWD, not mask & IN_DONT_FOLLOW)
            if f.fd < 0:
                raise Fail(errno.ENOENT)
            ifd = self.fetch(call, fds, call.fd_arg(0))
            wd = _native.inotify_add_watch(ifd, f"/proc/self/fd/{f.fd}".encode(),
                                           mask & ~IN_DONT_FOLLOW)
            return call.ret(wd)
        return self._do(call, run)
