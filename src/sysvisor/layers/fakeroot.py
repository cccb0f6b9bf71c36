"""FakeRoot: the program believes it runs as root (advisory), like fakeroot(1).

    sysvisor run --fakeroot --fakeroot-db state.db -- sh -c 'chown 0:0 f; mknod dev c 1 3; tar cf out.tar .'

    fr = FakeRoot(db="state.db")          # loads state.db if it exists, saves it at the end
    sysvisor.run(["tar", "cf", "out.tar", "."], layers=[fr])

What the program sees, and how (the behaviour is fakeroot's, checked
against fakeroot 1.31):

- getuid/geteuid/getgid/getegid/getresuid/getresgid answer 0, or what the
  program set with setuid/setgid/setreuid/setregid/setresuid/setresgid/
  setfsuid/setfsgid, which are answered (never run) with libfakeroot's
  rules; the identity is per process, inherited across fork and exec.
  setgroups is answered 0; getgroups is not faked (fakeroot does not fake
  it either); capset runs and reports success whatever the kernel said.
- The stat family (stat, lstat, fstat, newfstatat, statx; i386 stat64,
  lstat64, fstat64, fstatat64 and the 16-bit stat) runs, then the struct
  the kernel wrote is patched: files in the database show its owner, mode
  and rdev; every other file shows owner 0:0, whoever really owns it
  (faked's process_stat).
- chown/lchown/fchown/fchownat (and the i386 16/32-bit variants) record
  (dev, ino) -> (uid, gid) and return 0 without running (fakeroot with
  FAKEROOTDONTTRYCHOWN: the real file keeps its owner, also as root).
- chmod/fchmod/fchmodat/fchmodat2 record the mode (setuid, setgid and
  sticky bits included) and run with mode|0600 (|0700 for directories), so
  that the real user can still read and write what "root" made read-only.
- mknod/mknodat of a character or block device creates a plain file
  (S_IFREG|0644, umask applied) and records the device mode and rdev:
  stat then shows `crw-r--r-- 1 root root 1, 3`. FIFOs and sockets are
  created for real (an unprivileged user can), as with fakeroot's mkfifo.
- setxattr of POSIX ACLs fails with EOPNOTSUPP, as fakeroot's acl_set_*
  do, so that `cp -a` and `tar --acls` fall back to chmod (recorded).
- mkdir/mkdirat with a mode that lacks owner rwx runs with mode|0700 and
  records the mode asked for (the filter only stops those).
- unlink/unlinkat/rmdir/rename/renameat/renameat2 drop the entry of an
  inode whose last link goes away, so a reused inode does not inherit it;
  rename and link keep the inode, hence the entry.

The database is fakeroot's save file (`fakeroot -s FILE` / `-i FILE`):
one line per inode, `dev=%llx,ino=%llu,mode=%llo,uid=%llu,gid=%llu,
nlink=%llu,rdev=%llu`. Files written by one are read by the other.
"""
from __future__ import annotations

import os
import re
import stat as _st
import struct
import sys

from ..errors import UsageError
from ..layer import Layer, arg, when

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EMPTY_PATH = 0x1000
RENAME_EXCHANGE = 2
S_IFMT = 0o170000
ALLPERMS = 0o7777

# struct stat layouts: name -> (size to read, dev, ino, nlink, mode, uid, gid, rdev), each (offset, fmt)
_STAT = {
    "x86_64": (48, (0, "Q"), (8, "Q"), (16, "Q"), (24, "I"), (28, "I"), (32, "I"), (40, "Q")),
    "generic": (40, (0, "Q"), (8, "Q"), (20, "I"), (16, "I"), (24, "I"), (28, "I"), (32, "Q")),  # aarch64
    "stat64": (96, (0, "Q"), (88, "Q"), (20, "I"), (16, "I"), (24, "I"), (28, "I"), (32, "Q")),  # i386
    "old32": (20, (0, "I"), (4, "I"), (10, "H"), (8, "H"), (12, "H"), (14, "H"), (16, "I")),  # i386 struct stat
}
# statx: uid 20, gid 24, mode 28 (u16), ino 32, rdev major/minor 128/132, dev major/minor 136/140
STATX_TYPE, STATX_MODE, STATX_UID, STATX_GID, STATX_INO = 0x1, 0x2, 0x8, 0x10, 0x100

# i386 calls whose ids are 16-bit (old_uid_t): -1 is 0xffff, values above 65535 read 65534
_OLD16 = frozenset({"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
                    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
                    "setfsuid", "setfsgid", "chown", "lchown", "fchown"})

_LINE = re.compile(r"dev=([0-9a-fA-F]+),ino=(\d+),mode=([0-7]+),uid=(\d+),gid=(\d+),"
                   r"nlink=(\d+),rdev=(\d+)\s*$")

RUID, EUID, SUID, FSUID, RGID, EGID, SGID, FSGID = range(8)


class Entry:
    """What the database knows of one inode (faked's struct fakestat)."""

    __slots__ = ("mode", "uid", "gid", "nlink", "rdev")

    def __init__(self, mode: int, uid: int, gid: int, nlink: int = 1, rdev: int = 0):
        self.mode, self.uid, self.gid, self.nlink, self.rdev = mode, uid, gid, nlink, rdev

    def __repr__(self) -> str:
        return (f"Entry(mode={self.mode:o}, uid={self.uid}, gid={self.gid}, "
                f"nlink={self.nlink}, rdev={self.rdev})")


def _kdev(dev: int) -> int:
    """glibc's dev_t -> the kernel's 32-bit new_encode_dev (what struct stat holds)."""
    major, minor = os.major(dev), os.minor(dev)
    return (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFF) << 12)


def _from_kdev(k: int) -> int:
    """The kernel's 32-bit dev (mknod's argument) -> glibc's dev_t."""
    k &= 0xFFFFFFFF
    return os.makedev((k & 0xFFF00) >> 8, (k & 0xFF) | ((k >> 12) & 0xFFF00))


def _umask(tid: int) -> int:
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


_SELF = re.compile(r"/+(proc/+(self|thread-self)|dev/+(fd|stdin|stdout|stderr))(?=/|$)")
_STDIO = {"stdin": "0", "stdout": "1", "stderr": "2"}


def _own_proc(path: str, pid: int, tid: int) -> str:
    """An absolute path of the program, made to mean the same for the
    supervisor: /proc/self, /proc/thread-self, /dev/fd and /dev/std* name
    the program's own entries (tar chmods "/proc/self/fd/N")."""
    m = _SELF.match(path)
    if m is None:
        return path
    what = m[2] or m[3]
    if what == "self":
        base = f"/proc/{pid}"
    elif what == "thread-self":
        base = f"/proc/{pid}/task/{tid}"
    elif what == "fd":
        base = f"/proc/{tid}/fd"
    else:
        base = f"/proc/{tid}/fd/{_STDIO[what]}"
    return base + path[m.end():]


def _same_kind(db_mode: int, real_mode: int) -> bool:
    """Does a database entry still describe this inode? Faked device nodes
    (and fakeroot's faked FIFOs) are plain files in reality."""
    d, r = db_mode & S_IFMT, real_mode & S_IFMT
    return d == r or (r == _st.S_IFREG and d in (_st.S_IFCHR, _st.S_IFBLK, _st.S_IFIFO, _st.S_IFSOCK))


class FakeRoot(Layer):
    """Make the program believe it runs as root (uid/gid 0), like fakeroot.

    db: a fakeroot save file to load at start (if it exists) and to write
    at the end (`fakeroot -i FILE -s FILE`). The faked ownerships are in
    `self.entries` ({(dev, ino): Entry}) while it runs. Advisory: nothing
    here is a security boundary, and the program keeps its real
    privileges.
    """

    needs = frozenset({"answer", "result", "change_args"})

    def __init__(self, db: str | None = None):
        self.db = db
        self.entries: dict[tuple[int, int], Entry] = {}
        self.ids: dict[int, list[int]] = {}  # tgid -> [ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid]
        self.save_error: str | None = None
        if db is not None and os.path.exists(db):
            self.load(db)

    # ---- the database ---------------------------------------------------------

    def load(self, path: str) -> None:
        """Read a fakeroot save file into the database (entries are added)."""
        try:
            with open(path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError as e:
            raise UsageError(f"can't read fakeroot database {path}: {e.strerror}") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            m = _LINE.match(line)
            if m is None:
                raise UsageError(f"{path}:{n}: not a fakeroot database line: {line.strip()[:60]!r}")
            dev, ino = int(m[1], 16), int(m[2])
            self.entries[(dev, ino)] = Entry(int(m[3], 8), int(m[4]), int(m[5]), int(m[6]), int(m[7]))

    def save(self, path: str) -> None:
        """Write the database in fakeroot's save-file format (atomically)."""
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            for (dev, ino), e in self.entries.items():
                f.write(f"dev={dev:x},ino={ino},mode={e.mode:o},uid={e.uid},gid={e.gid},"
                        f"nlink={e.nlink},rdev={e.rdev}\n")
        os.replace(tmp, path)

    def on_end(self, session) -> None:
        if self.db is None:
            return
        try:
            self.save(self.db)
        except OSError as e:
            self.save_error = f"can't save fakeroot database {self.db}: {e.strerror}"
            sys.stderr.write(f"sysvisor: {self.save_error}\n")

    def _record_owner(self, key: tuple[int, int], st: os.stat_result, uid: int, gid: int) -> None:
        """faked's process_chown: -1 keeps the id (0 for an unknown file)."""
        e = self.entries.get(key)
        if e is None or not _same_kind(e.mode, st.st_mode):
            e = self.entries[key] = Entry(st.st_mode, 0, 0, st.st_nlink, 0)
        if uid != -1:
            e.uid = uid
        if gid != -1:
            e.gid = gid

    def _forget(self, key: tuple[int, int]) -> None:
        self.entries.pop(key, None)

    # ---- identity -------------------------------------------------------------------

    def _ids(self, call) -> list[int]:
        ids = self.ids.get(call.pid)
        if ids is None:
            ids = self.ids[call.pid] = [0] * 8
        return ids

    def _get(self, call, which: int) -> int:
        ids = self.ids.get(call.pid)
        v = ids[which] if ids is not None else 0
        if call.arch == "i386" and call.name in _OLD16 and v > 0xFFFF:
            v = 65534
        return v

    @staticmethod
    def _idarg(call, i: int) -> int:
        """An id argument; -1 for "unchanged"."""
        if call.arch == "i386" and call.name in _OLD16:
            v = call.args[i] & 0xFFFF
            return -1 if v == 0xFFFF else v
        v = call.args[i] & 0xFFFFFFFF
        return -1 if v == 0xFFFFFFFF else v

    def on_fork(self, parent: int, child: int, kind: str) -> None:
        if not self.ids:
            return
        from ..kernel.procfs import tgid

        ppid, cpid = tgid(parent), tgid(child)
        if cpid != ppid and ppid in self.ids:
            self.ids[cpid] = list(self.ids[ppid])

    def on_exit(self, tid: int, status: int) -> None:
        self.ids.pop(tid, None)

    def getuid(self, call):
        return call.ret(self._get(call, RUID))

    def geteuid(self, call):
        return call.ret(self._get(call, EUID))

    def getgid(self, call):
        return call.ret(self._get(call, RGID))

    def getegid(self, call):
        return call.ret(self._get(call, EGID))

    def _getres(self, call, first: int):
        vals = [self._get(call, first + k) for k in range(3)]
        size, fmt = (2, "<H") if call.arch == "i386" and call.name in _OLD16 else (4, "<I")
        for k in range(3):
            if call.write(call.args[k], struct.pack(fmt, vals[k])) != size:
                import errno

                return call.fail(errno.EFAULT)
        return call.ret(0)

    def getresuid(self, call):
        return self._getres(call, RUID)

    def getresgid(self, call):
        return self._getres(call, RGID)

    # libfakeroot's set_faked_* rules: never refused
    def _setid(self, call, base: int):
        v = self._idarg(call, 0)
        ids = self._ids(call)
        if ids[base + 1] == 0:  # effective 0: all of them
            ids[base] = ids[base + 1] = ids[base + 2] = v
        else:
            ids[base + 1] = v
        ids[base + 3] = v
        return call.ret(0)

    def setuid(self, call):
        return self._setid(call, RUID)

    def setgid(self, call):
        return self._setid(call, RGID)

    def _setre(self, call, base: int):
        r, e = self._idarg(call, 0), self._idarg(call, 1)
        ids = self._ids(call)
        if r != -1 or e != -1:
            ids[base + 2] = ids[base + 1]
        if r != -1:
            ids[base] = r
        if e != -1:
            ids[base + 1] = e
        ids[base + 3] = ids[base + 1]
        return call.ret(0)

    def setreuid(self, call):
        return self._setre(call, RUID)

    def setregid(self, call):
        return self._setre(call, RGID)

    def _setres(self, call, base: int):
        ids = self._ids(call)
        for k in range(3):
            v = self._idarg(call, k)
            if v != -1:
                ids[base + k] = v
        ids[base + 3] = ids[base + 1]
        return call.ret(0)

    def setresuid(self, call):
        return self._setres(call, RUID)

    def setresgid(self, call):
        return self._setres(call, RGID)

    def _setfs(self, call, which: int):
        prev = self._get(call, which)
        v = self._idarg(call, 0)
        if v != -1:
            self._ids(call)[which] = v
        return call.ret(prev)

    def setfsuid(self, call):
        return self._setfs(call, FSUID)

    def setfsgid(self, call):
        return self._setfs(call, FSGID)

    def setgroups(self, call):
        return call.ret(0)

    def capset(self, call):
        call.on_exit(self._succeed)
        return call.next()

    @staticmethod
    def _succeed(call) -> None:
        if call.retval:
            call.set_return(0)

    def compile(self, b) -> None:
        """The identity calls are data (sysvisor.compiled): the ids live in
        the process's shared region, inherited across fork (sv_ctx_fork);
        the stat, chown, chmod and mknod families cross to Python."""
        from ..compiled import blob as B

        ops = {"getuid": (B.ID_GET, RUID), "geteuid": (B.ID_GET, EUID), "getgid": (B.ID_GET, RGID),
               "getegid": (B.ID_GET, EGID), "getresuid": (B.ID_GETRES, RUID),
               "getresgid": (B.ID_GETRES, RGID), "setuid": (B.ID_SET, RUID),
               "setgid": (B.ID_SET, RGID), "setreuid": (B.ID_SETRE, RUID),
               "setregid": (B.ID_SETRE, RGID), "setresuid": (B.ID_SETRES, RUID),
               "setresgid": (B.ID_SETRES, RGID), "setfsuid": (B.ID_SETFS, FSUID),
               "setfsgid": (B.ID_SETFS, FSGID), "setgroups": (B.ID_RET0, 0),
               "capset": (B.ID_CAPSET, 0)}
        b.use_ids([0] * 8)
        for name, (op, which) in ops.items():
            for n in (name, name + "32"):
                sc = b.table.by_name.get(n)
                if sc is not None:
                    b.add(sc.nr, B.Ids(op, which, b.arch == "i386" and n in _OLD16))

    # i386 32-bit-id names
    getuid32, geteuid32, getgid32, getegid32 = getuid, geteuid, getgid, getegid
    getresuid32, getresgid32 = getresuid, getresgid
    setuid32, setgid32, setreuid32, setregid32 = setuid, setgid, setreuid, setregid
    setresuid32, setresgid32, setfsuid32, setfsgid32 = setresuid, setresgid, setfsuid, setfsgid
    setgroups32 = setgroups

    # ---- paths, as the supervisor can reach them --------------------------------------

    @staticmethod
    def _where(call, dirfd_index: int | None, path_index: int | None, flags: int = 0) -> str | None:
        """A path the supervisor can stat for the call's (dirfd, path);
        None when the path is unreadable. Relative paths go through the
        program's /proc/TID/cwd or /proc/TID/fd/DIRFD."""
        tid = call.tid
        if path_index is None:  # an fd
            return f"/proc/{tid}/fd/{call.fd_arg(dirfd_index)}"
        p = call.string(path_index)
        if p is None:
            return None
        if p.startswith("/"):
            return _own_proc(p, call.pid, tid)
        dirfd = AT_FDCWD if dirfd_index is None else call.fd_arg(dirfd_index)
        base = f"/proc/{tid}/cwd" if dirfd == AT_FDCWD else f"/proc/{tid}/fd/{dirfd}"
        if not p:
            return base if flags & AT_EMPTY_PATH else ""
        return f"{base}/{p}"

    @staticmethod
    def _stat(path: str, follow: bool) -> os.stat_result:
        if path == "":
            raise FileNotFoundError(2, "No such file or directory")
        return os.stat(path, follow_symlinks=follow)

    # ---- stat family: patch what the kernel wrote -----------------------------------

    def _on_stat(self, call, buf_index: int, layout: str):
        call.data["fakeroot_stat"] = (call.args[buf_index], layout)
        call.on_exit(self._stat_exit)
        return call.next()

    def _stat_exit(self, call) -> None:
        if call.retval != 0:
            return
        addr, layout = call.data["fakeroot_stat"]
        if layout == "statx":
            self._patch_statx(call, addr)
            return
        size, dev, ino, nlink, mode, uid, gid, rdev = _STAT[layout]
        data = call.read(addr, size)
        if data is None or len(data) < size:
            return
        buf = bytearray(data)
        key = (struct.unpack_from("<" + dev[1], buf, dev[0])[0], struct.unpack_from("<" + ino[1], buf, ino[0])[0])
        real_mode = struct.unpack_from("<" + mode[1], buf, mode[0])[0]
        e = self.entries.get(key)
        if e is not None and not _same_kind(e.mode, real_mode):
            del self.entries[key]  # a stale entry: the inode was reused behind our back
            e = None
        small = uid[1] == "H"
        if e is None:
            struct.pack_into("<" + uid[1], buf, uid[0], 0)
            struct.pack_into("<" + gid[1], buf, gid[0], 0)
            lo, hi = uid[0], gid[0] + struct.calcsize(gid[1])
        else:
            u, g = e.uid, e.gid
            if small:
                u, g = (u if u <= 0xFFFF else 65534), (g if g <= 0xFFFF else 65534)
            struct.pack_into("<" + uid[1], buf, uid[0], u)
            struct.pack_into("<" + gid[1], buf, gid[0], g)
            struct.pack_into("<" + mode[1], buf, mode[0], e.mode & (0xFFFF if mode[1] == "H" else 0xFFFFFFFF))
            rd = _kdev(e.rdev) if e.mode & S_IFMT in (_st.S_IFCHR, _st.S_IFBLK) else \
                struct.unpack_from("<" + rdev[1], buf, rdev[0])[0]
            struct.pack_into("<" + rdev[1], buf, rdev[0], rd)
            offs = (uid, gid, mode, rdev)
            lo = min(o for o, _ in offs)
            hi = max(o + struct.calcsize(f) for o, f in offs)
        call.write(addr + lo, bytes(buf[lo:hi]))

    def _patch_statx(self, call, addr: int) -> None:
        data = call.read(addr, 144)
        if data is None or len(data) < 144:
            return
        buf = bytearray(data)
        mask = struct.unpack_from("<I", buf, 0)[0]
        e = None
        if mask & STATX_INO:
            dmaj, dmin = struct.unpack_from("<II", buf, 136)
            key = (os.makedev(dmaj, dmin), struct.unpack_from("<Q", buf, 32)[0])
            e = self.entries.get(key)
            if e is not None and mask & STATX_TYPE:
                if not _same_kind(e.mode, struct.unpack_from("<H", buf, 28)[0]):
                    del self.entries[key]
                    e = None
        u, g = (e.uid, e.gid) if e is not None else (0, 0)
        if mask & STATX_UID:
            struct.pack_into("<I", buf, 20, u)
        if mask & STATX_GID:
            struct.pack_into("<I", buf, 24, g)
        hi = 28
        if e is not None and mask & (STATX_TYPE | STATX_MODE):
            struct.pack_into("<H", buf, 28, e.mode & 0xFFFF)
            hi = 30
            if e.mode & S_IFMT in (_st.S_IFCHR, _st.S_IFBLK):
                struct.pack_into("<II", buf, 128, os.major(e.rdev), os.minor(e.rdev))
                hi = 136
        call.write(addr + 20, bytes(buf[20:hi]))

    def _stat_layout(self, call) -> str:
        if call.arch == "i386":
            return "stat64" if call.name.endswith("64") else "old32"
        return "x86_64" if call.arch == "x86_64" else "generic"

    def stat(self, call):
        return self._on_stat(call, 1, self._stat_layout(call))

    lstat = fstat = stat64 = lstat64 = fstat64 = stat

    def newfstatat(self, call):
        return self._on_stat(call, 2, self._stat_layout(call))

    fstatat64 = newfstatat

    def statx(self, call):
        return self._on_stat(call, 4, "statx")

    # ---- chown: record, do not run ----------------------------------------------------

    def _chown(self, call, where: str | None, follow: bool, uid_index: int):
        import errno

        if where is None:
            return call.fail(errno.EFAULT)
        try:
            st = self._stat(where, follow)
        except OSError as e:
            return call.fail(e.errno or errno.EPERM)
        self._record_owner((st.st_dev, st.st_ino), st, self._idarg(call, uid_index),
                           self._idarg(call, uid_index + 1))
        return call.ret(0)

    def chown(self, call):
        return self._chown(call, self._where(call, None, 0), True, 1)

    def lchown(self, call):
        return self._chown(call, self._where(call, None, 0), False, 1)

    def fchown(self, call):
        return self._chown(call, self._where(call, 0, None), True, 1)

    def fchownat(self, call):
        flags = call.args[4] & 0xFFFFFFFF
        return self._chown(call, self._where(call, 0, 1, flags), not flags & AT_SYMLINK_NOFOLLOW, 2)

    chown32, lchown32, fchown32 = chown, lchown, fchown

    # ---- chmod: record the mode, run it so that the real user keeps access --------

    def _chmod(self, call, where: str | None, follow: bool, mode_index: int):
        if where is None:
            return call.next()
        try:
            st = self._stat(where, follow)
        except OSError:
            return call.next()  # the kernel says why
        mode = call.args[mode_index] & ALLPERMS
        call.data["fakeroot_chmod"] = (st, mode)
        real = mode | (0o700 if _st.S_ISDIR(st.st_mode) else 0o600)
        if real != mode:
            call.set_arg(mode_index, real)
        call.on_exit(self._chmod_exit)
        return call.next()

    def _chmod_exit(self, call) -> None:
        import errno

        if call.retval not in (0, -errno.EPERM):
            return
        if call.retval:
            call.set_return(0)  # fakeroot ignores EPERM
        st, mode = call.data["fakeroot_chmod"]
        key = (st.st_dev, st.st_ino)
        e = self.entries.get(key)
        if e is None or not _same_kind(e.mode, st.st_mode):
            self.entries[key] = Entry((st.st_mode & S_IFMT) | mode, 0, 0, st.st_nlink, 0)
        else:
            e.mode = (e.mode & S_IFMT) | mode

    def chmod(self, call):
        return self._chmod(call, self._where(call, None, 0), True, 1)

    def fchmod(self, call):
        return self._chmod(call, self._where(call, 0, None), True, 1)

    def fchmodat(self, call):
        return self._chmod(call, self._where(call, 0, 1), True, 2)

    def fchmodat2(self, call):
        flags = call.args[3] & 0xFFFFFFFF
        return self._chmod(call, self._where(call, 0, 1, flags), not flags & AT_SYMLINK_NOFOLLOW, 2)

    # ---- ACLs: not supported, so that programs fall back to chmod ----------------------
    # (fakeroot's acl_set_file/acl_set_fd fail with ENOTSUP; at the syscall level
    # that is setxattr of system.posix_acl_*; `cp -a` then uses chmod, which is recorded)

    def setxattr(self, call):
        import errno

        name = call.string(1)
        if name in ("system.posix_acl_access", "system.posix_acl_default"):
            return call.fail(errno.EOPNOTSUPP)
        return call.next()

    lsetxattr = fsetxattr = setxattr

    # ---- mknod of devices: a plain file, and a record --------------------------------

    def _mknod(self, call, dirfd_index: int | None, path_index: int):
        mode = call.args[path_index + 1] & 0xFFFFFFFF
        where = self._where(call, dirfd_index, path_index)
        if where is None:
            return call.next()
        umask = _umask(call.tid)
        call.data["fakeroot_mknod"] = (where, mode & ~umask, _from_kdev(call.args[path_index + 2]))
        call.set_arg(path_index + 1, _st.S_IFREG | 0o644)
        call.set_arg(path_index + 2, 0)
        call.on_exit(self._mknod_exit)
        return call.next()

    def _mknod_exit(self, call) -> None:
        if call.retval != 0:
            return
        where, mode, rdev = call.data["fakeroot_mknod"]
        try:
            st = os.lstat(where)
        except OSError:
            return
        self.entries[(st.st_dev, st.st_ino)] = Entry(mode, 0, 0, st.st_nlink, rdev)

    @when(arg(1, bits=32) & S_IFMT == _st.S_IFCHR)
    @when(arg(1, bits=32) & S_IFMT == _st.S_IFBLK)
    def mknod(self, call):
        return self._mknod(call, None, 0)

    @when(arg(2, bits=32) & S_IFMT == _st.S_IFCHR)
    @when(arg(2, bits=32) & S_IFMT == _st.S_IFBLK)
    def mknodat(self, call):
        return self._mknod(call, 0, 1)

    # ---- mkdir of a directory its owner could not use ------------------------------------

    def _mkdir(self, call, dirfd_index: int | None, path_index: int):
        mode = call.args[path_index + 1] & ALLPERMS
        where = self._where(call, dirfd_index, path_index)
        if where is None:
            return call.next()
        call.data["fakeroot_mkdir"] = (where, mode & ~_umask(call.tid))
        call.set_arg(path_index + 1, mode | 0o700)
        call.on_exit(self._mkdir_exit)
        return call.next()

    def _mkdir_exit(self, call) -> None:
        if call.retval != 0:
            return
        where, mode = call.data["fakeroot_mkdir"]
        try:
            st = os.lstat(where)
        except OSError:
            return
        self.entries[(st.st_dev, st.st_ino)] = Entry(_st.S_IFDIR | mode, 0, 0, st.st_nlink, 0)

    @when(arg(1, bits=32) & 0o700 != 0o700)
    def mkdir(self, call):
        return self._mkdir(call, None, 0)

    @when(arg(2, bits=32) & 0o700 != 0o700)
    def mkdirat(self, call):
        return self._mkdir(call, 0, 1)

    # ---- unlink, rmdir, rename: drop the entry of an inode that goes away ------------

    def _removing(self, call, where: str | None, is_dir: bool, same_as: str | None = None):
        """If `where` is a known inode whose last link the call removes,
        forget it when the call succeeds."""
        if where is None:
            return call.next()
        try:
            st = os.lstat(where) if where else None
        except OSError:
            st = None
        if st is None:
            return call.next()
        key = (st.st_dev, st.st_ino)
        if key not in self.entries:
            return call.next()
        if same_as is not None:  # rename: between two links of one inode it does nothing
            try:
                src = os.lstat(same_as)
                if (src.st_dev, src.st_ino) == key:
                    return call.next()
            except OSError:
                return call.next()
        if not (is_dir or _st.S_ISDIR(st.st_mode)) and st.st_nlink > 1:
            return call.next()
        call.data["fakeroot_forget"] = key
        call.on_exit(self._forget_exit)
        return call.next()

    def _forget_exit(self, call) -> None:
        if call.retval == 0:
            self._forget(call.data["fakeroot_forget"])

    # (with an empty database there is nothing to forget: no lookups, no exit stop)
    def unlink(self, call):
        if not self.entries:
            return call.next()
        return self._removing(call, self._where(call, None, 0), False)

    def rmdir(self, call):
        if not self.entries:
            return call.next()
        return self._removing(call, self._where(call, None, 0), True)

    def unlinkat(self, call):
        if not self.entries:
            return call.next()
        flags = call.args[2] & 0xFFFFFFFF
        return self._removing(call, self._where(call, 0, 1), bool(flags & AT_REMOVEDIR))

    def rename(self, call):
        if not self.entries:
            return call.next()
        return self._removing(call, self._where(call, None, 1), False, self._where(call, None, 0))

    def renameat(self, call):
        if not self.entries:
            return call.next()
        return self._removing(call, self._where(call, 2, 3), False, self._where(call, 0, 1))

    def renameat2(self, call):
        if call.args[4] & RENAME_EXCHANGE:
            return call.next()  # both inodes live on
        return self.renameat(call)
