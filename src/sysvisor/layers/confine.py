"""Confine: the program sees a virtual root plus bind mounts, and nothing else.

    view = Confine(root="/srv/rootfs", binds=[("/usr", "/usr", True), (src, "/src", False)],
                   cwd="/src")
    sysvisor.run(["/bin/sh", "-c", "make"], layers=[view], method="unotify")

An *enforcing* layer for the unotify method. Every path-taking system call
is executed on the program's behalf by the supervisor, which reads each
pointer argument once and acts itself (the security model of
docs/design.md): files are opened by a race-free walk of the view and
handed over with NOTIF_ADDFD (`call.inject_fd`); stat buffers, link texts
and the cwd are written into the program's memory after the action. No
path call is ever CONTINUEd, with one exception, execve (see below).

The view
--------
`root` is the host directory seen as "/", each bind (host, guest,
readonly) a host directory seen at `guest`. A guest path is resolved by
the supervisor one component at a time (`_walk`): each component is opened
with openat2(dirfd, name, O_PATH|O_NOFOLLOW, RESOLVE_BENEATH |
RESOLVE_NO_MAGICLINKS) under the O_PATH fd of its directory, so nothing the
program does to the filesystem meanwhile can redirect a step outside the
view; ".." pops the walk's own stack of directory fds (never above "/"),
symlinks are read and their text resolved *in the view* (an absolute
target restarts at the guest root, so `ln -s /etc/hostname leak` means the
view's /etc/hostname); reaching a bind's guest path switches to the bind's
directory fd. Symlinks therefore cross binds like on a real system with
bind mounts (a merged-/usr root whose /lib64 -> usr/lib64 works with a
bind of /usr). The final object is reopened through /proc/self/fd/N of
the supervisor's O_PATH fd (the same inode, no second lookup) or created
with O_EXCL|O_NOFOLLOW under its parent's fd.

/proc: /proc/self and /proc/thread-self (and nothing else of /proc) are the
calling process's /proc/PID (task/TID) directory, opened by the supervisor
and checked with NOTIF_ID_VALID (no pid reuse); its magic links (cwd, exe,
root, fd/N, map_files/...) are never followed by the kernel: a link to a
path is translated back into the view (the host path mapped to its guest
path, resolved again in the view, or ENOENT outside it; root is "/", cwd
the virtual cwd), anything else (pipe:[..], anon_inode:..) is ELOOP.
Binding /proc itself is refused (the supervisor would open other
processes' /proc files with its own credentials).

The cwd
-------
A process's cwd is per process (inherited over fork, shared by CLONE_FS
threads) and no interface changes another process's cwd, so the program's
*real* cwd is never used: the virtual cwd is an O_PATH directory fd that
the supervisor places at a reserved fd number (`cwd_fd`, 1023 with the
usual limits) in the program with NOTIF_ADDFD(SETFD) on chdir/fchdir. It
is inherited by fork and kept over exec (not CLOEXEC) exactly like a cwd,
and shared by threads that share the fd table. Relative paths are resolved
against the guest path of that directory (its host path, from the fd,
mapped back into the view; resolved again in the view, so a stale or forged
fd never leads outside). Without the fd (never chdir'd, or the program
closed it, e.g. closefrom) the cwd is the layer's initial `cwd`. getcwd
returns the guest path. dirfd arguments are the program's real fds, fetched
with pidfd_getfd and mapped the same way.

execve
------
The kernel resolves execve's path, the ELF interpreter (PT_INTERP) and a
script's #! interpreter itself, in the real filesystem, and unotify cannot
change the pointer. The layer resolves the guest path in the view AND the
same string the way the kernel will (real cwd / dirfd), for the file, its
ELF interpreter and its #! interpreter (recursively), and lets the exec
run only when each pair is the very same inode (a view whose binds sit at
their host paths, e.g. /usr:/usr, or a root of "/"). Otherwise: EACCES and
a message. The remaining race (another thread rewrites the path buffer, or
a process swaps a symlink on the real path, after the check) is made
harmless by the Landlock backstop (execute rights only inside the view);
without Landlock the exec is allowed only when the process is
single-threaded, no other process shares its memory (kcmp KCMP_VM over
/proc) and every checked file lies on a read-only mount of the view.

Credentials: when the supervisor runs as root and the program does not,
every action runs on the receiver thread with the program's fsuid, fsgid
and groups (per-thread setfsuid/setfsgid/setgroups), which also drops the
filesystem capabilities for that action.

Landlock: where the kernel has it, a ruleset derived from the view (see
kernel/landlock.py for the rights and ABIs) is applied in the child before
exec; absent, the layer says so once on stderr and runs without.
"""
from __future__ import annotations

import errno
import os
import resource
import stat as _stat
import struct
import sys
import tempfile
import threading

from .. import _native
from ..arch import AUDIT_ARCH_X86_64
from ..kernel import landlock as _landlock
from ..kernel.openat2 import RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, \
    RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV, RESOLVE_CACHED, openat2
from ..kernel.unotify import ADDFD_FLAG_SETFD
from ..layer import Layer

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
AT_EACCESS = 0x200
AT_STATX_SYNC_TYPE = 0x6000
O_TMPFILE = 0o20000000 | os.O_DIRECTORY
IN_DONT_FOLLOW = 0x02000000
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
KCMP_VM = 1
MAXSYMLINKS = 40
PATH_MAX = 4096

_OPATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_STEP = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS

# Path-taking calls that are not translated (yet): refused. Every %file
# syscall of the table that has no handler below reaches `syscall` and
# fails; the list in the report / docs names them.
_NOT_SUPPORTED_ERRNO = {
    "getxattr": errno.EOPNOTSUPP, "lgetxattr": errno.EOPNOTSUPP, "setxattr": errno.EOPNOTSUPP,
    "lsetxattr": errno.EOPNOTSUPP, "listxattr": errno.EOPNOTSUPP, "llistxattr": errno.EOPNOTSUPP,
    "removexattr": errno.EOPNOTSUPP, "lremovexattr": errno.EOPNOTSUPP,
    "getxattrat": errno.EOPNOTSUPP, "setxattrat": errno.EOPNOTSUPP,
    "listxattrat": errno.EOPNOTSUPP, "removexattrat": errno.EOPNOTSUPP,
    "utime": errno.ENOSYS, "utimes": errno.ENOSYS, "futimesat": errno.ENOSYS,
}


class _Mount:
    __slots__ = ("guest", "host", "fd", "readonly", "kind")

    def __init__(self, guest: str, host: str, fd: int, readonly: bool, kind: str = "dir"):
        self.guest, self.host, self.fd, self.readonly, self.kind = guest, host, fd, readonly, kind

    def __repr__(self) -> str:
        return f"<mount {self.host} on {self.guest}{' ro' if self.readonly else ''}>"


class _Entry:
    """One directory of the walk: its guest path, O_PATH fd, mount."""
    __slots__ = ("guest", "fd", "mount", "depth")

    def __init__(self, guest, fd, mount, depth=0):
        self.guest, self.fd, self.mount, self.depth = guest, fd, mount, depth


class _Found:
    """The result of a walk. fd: O_PATH fd of the final object (-1: it does
    not exist; then parent/name say where it would be created). st: its
    stat. name None: the final object is "/" or a mount root (no parent
    entry to create or remove)."""
    __slots__ = ("parent", "name", "fd", "st", "mount", "guest")

    def __init__(self, parent, name, fd, st, mount, guest):
        self.parent, self.name, self.fd, self.st, self.mount, self.guest = \
            parent, name, fd, st, mount, guest

    @property
    def readonly(self) -> bool:
        m = self.mount if self.fd >= 0 or self.parent is None else self.parent.mount
        return m.readonly


class _Fail(Exception):
    def __init__(self, err: int):
        super().__init__(err)
        self.err = err


def _split(p: str) -> list[str]:
    return [c for c in p.split("/") if c and c != "."]


def _join(a: str, b: str) -> str:
    return "/" + b if a == "/" else a + "/" + b


def _norm_guest(g: str) -> str:
    g = os.path.normpath("/" + g)
    return "/" if g.startswith("//") and g.strip("/") == "" else ("/" + g.lstrip("/"))


def _status_fields(tid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{tid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


class Confine(Layer):
    """Confinement view: root + binds + virtual cwd, enforced on unotify.

    root:  host directory shown as "/" (must exist).
    binds: [(host_dir, guest_path, readonly)] (or (host, guest)); the
           longest guest path wins; "/proc" cannot be bound (built-in
           /proc/self instead).
    cwd:   the program's initial (guest) working directory.
    root_readonly: the root itself is read-only.
    landlock: apply the Landlock backstop where the kernel has it.
    """

    enforcing = True
    blocking = True  # opens may block (FIFOs): handlers run concurrently

    def __init__(self, root: str, binds=(), cwd: str = "/", root_readonly: bool = False,
                 landlock: bool = True):
        self._fds: list[int] = []
        self.mounts: dict[str, _Mount] = {}
        self.root = self._mount(root, "/", root_readonly)
        for b in binds:
            host, guest = b[0], b[1]
            ro = bool(b[2]) if len(b) > 2 else False
            g = _norm_guest(guest)
            if g == "/proc" or g.startswith("/proc/"):
                raise ValueError("Confine: /proc cannot be bound (the supervisor would open other "
                                 "processes' /proc files with its own credentials); /proc/self is "
                                 "built in")
            self._mount(host, g, ro)
        self.cwd = _norm_guest(cwd)
        # guest directories that lead to a bind but do not exist in the view:
        # shown as an empty read-only directory (like a mount point)
        self._ancestors = set()
        for g in self.mounts:
            while g != "/":
                g = os.path.dirname(g)
                self._ancestors.add(g)
        self._empty_dir = tempfile.mkdtemp(prefix="sysvisor-confine-empty-")
        os.chmod(self._empty_dir, 0o555)
        efd = os.open(self._empty_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self._fds.append(efd)
        self._empty = _Mount("", os.readlink(f"/proc/self/fd/{efd}"), efd, True)
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.cwd_fd = min(soft, 1024) - 1
        self._by_host = sorted(self.mounts.values(), key=lambda m: len(m.host), reverse=True)
        self._sup_umask = int(_status_fields("self").get("Umask", "022"), 8)
        self._root_sup = os.geteuid() == 0
        self._sup_groups = os.getgroups()
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self.landlock_active = False
        self.ruleset = None
        self.landlock_wanted = landlock
        self.landlock_abi = _landlock.abi_version() if landlock else 0
        if landlock and self.landlock_abi >= 1:
            self.ruleset = _landlock.Ruleset.build(
                [(m.fd, m.readonly, f"{m.host} on {m.guest}") for m in self.mounts.values()])

    def _mount(self, host: str, guest: str, ro: bool) -> _Mount:
        fd = os.open(host, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self._fds.append(fd)
        real = os.readlink(f"/proc/self/fd/{fd}")
        m = _Mount(guest, real, fd, ro)
        self.mounts[guest] = m
        return m

    def release(self) -> None:
        """Close the view's fds and the ruleset (the layer is unusable after)."""
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        try:
            os.rmdir(self._empty_dir)
        except OSError:
            pass
        if self.ruleset is not None:
            self.ruleset.close()
            self.ruleset = None
        _native.landlock_arm(-1)

    # ---- session hooks -------------------------------------------------------

    def interests(self, table):
        """Every %file syscall, fchdir, the path-check bypasses of
        layers/policy.BYPASS, and unshare/setns (namespace flags)."""
        from .policy import BYPASS

        # the ruleset for the spawn that follows (see kernel/landlock.py and
        # the report: the engine should pass it explicitly)
        if self.ruleset is not None:
            _native.landlock_arm(self.ruleset.fd)
        names = {sc.name for sc in table if "file" in sc.classes}
        names |= {"fchdir", "unshare", "setns"} | set(BYPASS)
        return {table.by_name[n].nr: None for n in names if n in table.by_name}

    def on_start(self, session) -> None:
        eng = getattr(session, "_engine", None)
        root_pid = getattr(eng, "root_pid", None)
        self.landlock_active = bool(self.ruleset is not None and root_pid
                                    and _native.landlock_last_pid() == root_pid)
        if self.ruleset is None:
            why = ("disabled (landlock=False)" if not self.landlock_wanted
                   else f"not available here (ABI {self.landlock_abi})")
            self._say("landlock", f"sysvisor: confine: Landlock is {why}: running without the "
                      "kernel-enforced backstop; exec is allowed only from single-threaded "
                      "processes on read-only mounts")
        elif not self.landlock_active:
            self._say("landlock", "sysvisor: confine: the Landlock ruleset was not applied to the "
                      "program (spawned from another thread?): running without the backstop")

    def on_end(self, session) -> None:
        _native.landlock_arm(-1)

    def _say(self, key: str, msg: str) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        sys.stderr.write(msg + "\n")

    # ---- plumbing ---------------------------------------------------------------

    def _do(self, call, fn, *args):
        """Run fn(call, fds, *args) with the program's credentials; OSError
        and _Fail become the call's errno. fds: list of fds to close."""
        if call.audit != AUDIT_ARCH_X86_64:
            return call.fail(errno.ENOSYS)  # compat ABIs: not translated yet
        fds: list[int] = []
        creds = None
        try:
            if self._root_sup:
                creds = True  # restored in any case once we tried
                if not self._become(call):
                    creds = None
            return fn(call, fds, *args)
        except _Fail as e:
            return call.fail(e.err)
        except OSError as e:
            return call.fail(e.errno or errno.EIO)
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if creds is not None:
                _native.fscreds(0, 0, self._sup_groups)

    def _become(self, call):
        st = _status_fields(call.tid)
        fsuid = int(st["Uid"].split()[3])
        fsgid = int(st["Gid"].split()[3])
        if fsuid == 0:
            return None
        groups = [int(g) for g in st.get("Groups", "").split()]
        _native.fscreds(fsuid, fsgid, groups)
        return True

    def _path(self, call, index: int) -> str:
        if call.args[index] == 0:
            raise _Fail(errno.EFAULT)
        r = call.read_bytes(index, PATH_MAX)
        if r is None:
            raise _Fail(errno.EFAULT)
        data, complete = r
        if not complete:
            raise _Fail(errno.ENAMETOOLONG)
        return os.fsdecode(data)

    def _valid(self, call) -> bool:
        n = call._mem
        try:
            return _native.notif_id_valid(n.fd, n.id)
        except OSError:
            return False

    def _addfd_at(self, call, fd: int, target: int) -> None:
        """Place a copy of fd at `target` in the program (NOTIF_ADDFD SETFD,
        not CLOEXEC), without answering the call."""
        n = call._mem
        _native.notif_addfd(n.fd, n.id, fd, target, 0, ADDFD_FLAG_SETFD)

    def _umask(self, call) -> int:
        try:
            return int(_status_fields(call.tid).get("Umask", "022"), 8)
        except (OSError, ValueError):
            return 0o022

    def _fixmode(self, call, fd: int, mode: int, umask: int) -> None:
        """The kernel applied the supervisor's umask; give the file exactly
        mode & ~umask (only ever widening what was created)."""
        want = mode & ~umask & 0o7777
        if want & self._sup_umask:
            os.chmod(f"/proc/self/fd/{fd}", want)

    # ---- host <-> guest ---------------------------------------------------------

    def guest_of_host(self, host: str) -> str | None:
        """The guest path of a host path inside the view (None: outside)."""
        if host.endswith(" (deleted)") or not host.startswith("/"):
            return None
        for m in self._by_host:
            h = m.host
            if host == h:
                return m.guest
            if host.startswith(h if h.endswith("/") else h + "/"):
                rest = host[len(h):].lstrip("/")
                return _join(m.guest, rest)
        return None

    def _fd_guest(self, fd: int) -> str | None:
        try:
            return self.guest_of_host(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return None

    def _cwd_guest(self, call) -> str:
        try:
            fd = call.pidfd_getfd(self.cwd_fd)
        except OSError:
            return self.cwd
        try:
            if not _stat.S_ISDIR(os.fstat(fd).st_mode):
                return self.cwd
            g = self._fd_guest(fd)
            return g if g is not None else self.cwd
        finally:
            os.close(fd)

    def _base(self, call, dirfd: int) -> str:
        """The guest directory a relative path starts from."""
        if dirfd == AT_FDCWD:
            return self._cwd_guest(call)
        try:
            fd = call.pidfd_getfd(dirfd)
        except OSError:
            raise _Fail(errno.EBADF)
        try:
            if not _stat.S_ISDIR(os.fstat(fd).st_mode):
                raise _Fail(errno.ENOTDIR)
            g = self._fd_guest(fd)
        finally:
            os.close(fd)
        if g is None:
            raise _Fail(errno.ENOENT)  # a directory outside the view
        return g

    # ---- the walk ------------------------------------------------------------------

    def _proc_dir(self, call, fds, thread: bool) -> int:
        pid = call.pid
        p = f"/proc/{pid}/task/{call.tid}" if thread else f"/proc/{pid}"
        fd = os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        fds.append(fd)
        if not self._valid(call):  # the caller is gone: the pid may be someone else's
            raise _Fail(errno.ESRCH)
        return fd

    def _walk(self, call, fds, path: str, dirfd: int = AT_FDCWD, follow: bool = True,
              resolve: int = 0) -> _Found:
        """Resolve a guest path race-free (see the module docstring).
        resolve: the program's own openat2 RESOLVE_* flags (BENEATH,
        IN_ROOT relative to the dirfd; NO_SYMLINKS; NO_XDEV)."""
        if path == "":
            raise _Fail(errno.ENOENT)
        if path.endswith("/"):
            follow = True
            must_dir = True
        else:
            must_dir = False
        jail = resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)
        rootent = _Entry("/", self.root.fd, self.root)
        stack = [rootent]
        absolute = path.startswith("/")
        floor = 1  # ".." never pops below this many entries
        nbase = -1
        if jail:  # the program's own openat2 jail: its dirfd is the limit
            if absolute and resolve & RESOLVE_BENEATH:
                raise _Fail(errno.EXDEV)
            bcomps = _split(self._base(call, dirfd))
            nbase = len(bcomps)
            floor = None
            comps = bcomps + _split(path)
        elif not absolute:
            comps = _split(self._base(call, dirfd)) + _split(path)
        else:
            comps = _split(path)
        nlinks = 0
        last_name = None
        done = 0  # components consumed (to find where the jail's base ends)
        while comps:
            if floor is None and done == nbase:
                floor = len(stack)
            c = comps.pop(0)
            done += 1
            is_last = not comps
            if c == "..":
                if len(stack) <= (floor or 1):
                    if resolve & RESOLVE_BENEATH:
                        raise _Fail(errno.EXDEV)
                    last_name = None
                    continue
                if len(stack) > 1:
                    stack.pop()
                last_name = None
                continue
            cur = stack[-1]
            g = _join(cur.guest, c)
            if cur.mount.kind == "dir":
                if g in ("/proc/self", "/proc/thread-self"):
                    pfd = self._proc_dir(call, fds, g == "/proc/thread-self")
                    pm = _Mount(g, "", pfd, False, "proc")
                    stack.append(_Entry(g, pfd, pm))
                    last_name = None
                    continue
                bm = self.mounts.get(g)
                if bm is not None and bm is not self.root:
                    if resolve & RESOLVE_NO_XDEV:
                        raise _Fail(errno.EXDEV)
                    stack.append(_Entry(g, bm.fd, bm))
                    last_name = None if is_last else c
                    if is_last:
                        return _Found(None, None, bm.fd, os.fstat(bm.fd), bm, g)
                    continue
            try:
                fd = openat2(cur.fd, c, _OPATH, 0, _STEP)
            except FileNotFoundError:
                if g in self._ancestors:  # leads to a bind: an empty directory
                    stack.append(_Entry(g, self._empty.fd, self._empty))
                    last_name = c
                    if is_last:
                        return _Found(cur, c, self._empty.fd, os.fstat(self._empty.fd),
                                      self._empty, g)
                    continue
                if is_last:
                    if must_dir:
                        # mkdir("x/") may create it; others get ENOENT
                        pass
                    return _Found(cur, c, -1, None, cur.mount, g)
                raise
            fds.append(fd)
            st = os.fstat(fd)
            if _stat.S_ISLNK(st.st_mode):
                if is_last and not follow:
                    return _Found(cur, c, fd, st, cur.mount, g)
                if resolve & RESOLVE_NO_SYMLINKS:
                    raise _Fail(errno.ELOOP)
                nlinks += 1
                if nlinks > MAXSYMLINKS:
                    raise _Fail(errno.ELOOP)
                target = self._link_target(call, cur, c, fd)
                if target.startswith("/"):
                    if jail:
                        if resolve & RESOLVE_BENEATH:
                            raise _Fail(errno.EXDEV)
                        del stack[floor:]
                    else:
                        del stack[1:]
                comps = _split(target) + comps
                if not _split(target) and not comps and not target.startswith("/"):
                    raise _Fail(errno.ENOENT)
                continue
            if not is_last and not _stat.S_ISDIR(st.st_mode):
                raise _Fail(errno.ENOTDIR)
            stack.append(_Entry(g, fd, cur.mount))
            last_name = c
            if is_last:
                if must_dir and not _stat.S_ISDIR(st.st_mode):
                    raise _Fail(errno.ENOTDIR)
                return _Found(cur, c, fd, st, cur.mount, g)
        # ended on "/", a mount root, "..", "." or a followed symlink
        top = stack[-1]
        st = os.fstat(top.fd)
        if must_dir and not _stat.S_ISDIR(st.st_mode):
            raise _Fail(errno.ENOTDIR)
        if last_name is not None and len(stack) > 1:
            return _Found(stack[-2], last_name, top.fd, st, top.mount, top.guest)
        return _Found(None, None, top.fd, st, top.mount, top.guest)

    def _link_target(self, call, cur: _Entry, name: str, fd: int) -> str:
        """The text of a symlink, as a guest path. Inside /proc/PID, the
        kernel's magic links are translated into the view."""
        text = os.readlink("", dir_fd=fd)
        if cur.mount.kind != "proc":
            return text
        if name == "root":
            return "/"
        if name == "cwd":
            return self._cwd_guest(call)
        if text.startswith("/"):
            g = self.guest_of_host(text)
            if g is None:
                raise _Fail(errno.ENOENT)  # outside the view
            return g
        raise _Fail(errno.ELOOP)  # pipe:[..], socket:[..], anon_inode:...

    def _reopen(self, found: _Found, flags: int) -> int:
        """Open the walked object itself (no second lookup)."""
        flags = (flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | O_TMPFILE)) | os.O_CLOEXEC \
            | os.O_NOCTTY
        if flags & os.O_PATH:
            return self._path_fd(found.fd, found.st)
        return os.open(f"/proc/self/fd/{found.fd}", flags)

    @staticmethod
    def _path_fd(fd: int, st) -> int:
        """A transferable stand-in for an O_PATH fd: NOTIF_ADDFD cannot pass
        O_PATH files (the kernel's fget() skips them), so directories and
        regular files are opened read-only (needs read permission); other
        kinds (devices, FIFOs, sockets, symlinks) would be opened for real
        or cannot be: ENXIO."""
        if _stat.S_ISDIR(st.st_mode):
            return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if _stat.S_ISREG(st.st_mode):
            return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        raise _Fail(errno.ENXIO)

    # ---- open ---------------------------------------------------------------------

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
                raise _Fail(errno.EINVAL)
            data = call.read(call.args[2], min(size, 4096))
            if data is None or len(data) < min(size, 4096):
                raise _Fail(errno.EFAULT)
            if any(data[24:]):
                raise _Fail(errno.E2BIG)
            flags, mode, resolve = struct.unpack_from("<QQQ", data)
            if resolve & ~0x3F:
                raise _Fail(errno.EINVAL)
            if resolve & RESOLVE_CACHED:
                raise _Fail(errno.EAGAIN)  # callers retry without
            return self._open(call, fds, call.fd_arg(0), 1, flags, mode, resolve)
        return self._do(call, run)

    def _open(self, call, fds, dirfd, pidx, flags, mode, resolve):
        flags &= 0xFFFFFFFF
        path = self._path(call, pidx)
        acc = flags & os.O_ACCMODE
        tmpfile = (flags & O_TMPFILE) == O_TMPFILE
        create = bool(flags & os.O_CREAT) and not tmpfile
        excl = create and bool(flags & os.O_EXCL)
        follow = not (flags & os.O_NOFOLLOW) and not excl
        writes = acc != os.O_RDONLY or flags & os.O_TRUNC or tmpfile
        for _attempt in range(4):
            f = self._walk(call, fds, path, dirfd, follow, resolve)
            if tmpfile:
                if f.fd < 0:
                    raise _Fail(errno.ENOENT)
                if f.mount.readonly:
                    raise _Fail(errno.EROFS)
                umask = self._umask(call)
                fd = os.open(f"/proc/self/fd/{f.fd}", (flags & ~os.O_NOFOLLOW) | os.O_CLOEXEC,
                             mode & ~umask & 0o7777)
                fds.append(fd)
                self._fixmode(call, fd, mode, umask)
                return call.inject_fd(fd, cloexec=bool(flags & os.O_CLOEXEC))
            if f.fd < 0:
                if not create:
                    raise _Fail(errno.ENOENT)
                if f.parent is None:
                    raise _Fail(errno.EISDIR)
                if f.parent.mount.readonly:
                    raise _Fail(errno.EROFS)
                if path.endswith("/"):
                    raise _Fail(errno.EISDIR)
                umask = self._umask(call)
                try:
                    fd = openat2(f.parent.fd, f.name,
                                 (flags | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY),
                                 mode & ~umask & 0o7777, _STEP)
                except (FileExistsError, OSError) as e:
                    if isinstance(e, FileExistsError) or e.errno == errno.ELOOP:
                        if excl and isinstance(e, FileExistsError):
                            raise
                        continue  # created meanwhile: walk again
                    raise
                fds.append(fd)
                self._fixmode(call, fd, mode, umask)
                return call.inject_fd(fd, cloexec=bool(flags & os.O_CLOEXEC))
            if excl:
                raise _Fail(errno.EEXIST)
            if _stat.S_ISLNK(f.st.st_mode):  # O_NOFOLLOW on a symlink (O_PATH: see _path_fd)
                raise _Fail(errno.ELOOP)
            if writes and f.mount.readonly:
                raise _Fail(errno.EROFS)
            if flags & os.O_DIRECTORY and not _stat.S_ISDIR(f.st.st_mode):
                raise _Fail(errno.ENOTDIR)
            if _stat.S_ISDIR(f.st.st_mode) and (acc != os.O_RDONLY or flags & os.O_TRUNC) \
                    and not flags & os.O_PATH:
                raise _Fail(errno.EISDIR)
            fd = self._reopen(f, flags)
            fds.append(fd)
            return call.inject_fd(fd, cloexec=bool(flags & os.O_CLOEXEC))
        raise _Fail(errno.EAGAIN)

    # ---- stat family -------------------------------------------------------------

    def _target(self, call, fds, dirfd, pidx, flags, follow_default=True) -> int:
        """O_PATH fd of what a *at call with AT_EMPTY_PATH/AT_SYMLINK_NOFOLLOW
        names (a fetched program fd for AT_EMPTY_PATH with "")."""
        if call.args[pidx] == 0 and flags & AT_EMPTY_PATH:
            path = ""
        else:
            path = self._path(call, pidx)
        if path == "" and flags & AT_EMPTY_PATH:
            if dirfd == AT_FDCWD:
                f = self._walk(call, fds, ".", AT_FDCWD)
                return f.fd
            try:
                fd = call.pidfd_getfd(dirfd)
            except OSError:
                raise _Fail(errno.EBADF)
            fds.append(fd)
            return fd
        f = self._walk(call, fds, path, dirfd, follow_default and not flags & AT_SYMLINK_NOFOLLOW)
        if f.fd < 0:
            raise _Fail(errno.ENOENT)
        return f.fd

    def _write_out(self, call, addr: int, data: bytes) -> None:
        if addr == 0 or call.write(addr, data) != len(data):
            raise _Fail(errno.EFAULT)

    @staticmethod
    def _pack_stat(st) -> bytes:
        def ts(ns):
            return ns // 1_000_000_000, ns % 1_000_000_000
        a, m, c = ts(st.st_atime_ns), ts(st.st_mtime_ns), ts(st.st_ctime_ns)
        return struct.pack("<3Q4IQ3q6q3q", st.st_dev, st.st_ino, st.st_nlink, st.st_mode,
                           st.st_uid, st.st_gid, 0, st.st_rdev, st.st_size, st.st_blksize,
                           st.st_blocks, *a, *m, *c, 0, 0, 0)

    def _stat_into(self, call, fds, dirfd, pidx, flags, buf_idx):
        fd = self._target(call, fds, dirfd, pidx, flags)
        self._write_out(call, call.args[buf_idx], self._pack_stat(os.stat(fd)))
        return call.ret(0)

    def stat(self, call):
        return self._do(call, self._stat_into, AT_FDCWD, 0, 0, 1)

    def lstat(self, call):
        return self._do(call, self._stat_into, AT_FDCWD, 0, AT_SYMLINK_NOFOLLOW, 1)

    def newfstatat(self, call):
        return self._do(call, self._stat_into, call.fd_arg(0), 1, call.args[3] & 0xFFFFFFFF, 2)

    def statx(self, call):
        def run(call, fds):
            flags = call.args[2] & 0xFFFFFFFF
            fd = self._target(call, fds, call.fd_arg(0), 1, flags)
            raw = _native.statx(fd, b"", AT_EMPTY_PATH | (flags & AT_STATX_SYNC_TYPE),
                                call.args[3] & 0xFFFFFFFF)
            self._write_out(call, call.args[4], raw)
            return call.ret(0)
        return self._do(call, run)

    def statfs(self, call):
        def run(call, fds):
            fd = self._target(call, fds, AT_FDCWD, 0, 0)
            self._write_out(call, call.args[1], _native.fstatfs_raw(fd))
            return call.ret(0)
        return self._do(call, run)

    # ---- access, readlink, cwd ---------------------------------------------------

    def _access(self, call, fds, dirfd, pidx, mode, flags):
        fd = self._target(call, fds, dirfd, pidx, flags)
        if mode & os.W_OK:
            m = self._mount_of_fd(fd)
            if m is not None and m.readonly:
                raise _Fail(errno.EROFS)
        if mode & ~7:
            raise _Fail(errno.EINVAL)
        if mode and not os.access(f"/proc/self/fd/{fd}", mode, effective_ids=True):
            raise _Fail(errno.EACCES)
        return call.ret(0)

    def _mount_of_fd(self, fd: int) -> _Mount | None:
        try:
            host = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
        for m in self._by_host:
            if host == m.host or host.startswith(m.host.rstrip("/") + "/"):
                return m
        return None

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
            raise _Fail(errno.EINVAL)
        path = self._path(call, pidx)
        f = self._walk(call, fds, path, dirfd, follow=False)
        if f.fd < 0:
            raise _Fail(errno.ENOENT)
        if not _stat.S_ISLNK(f.st.st_mode):
            raise _Fail(errno.EINVAL)
        if f.parent is not None and f.parent.mount.kind == "proc":
            text = self._link_target(call, f.parent, f.name, f.fd)
        else:
            text = os.readlink("", dir_fd=f.fd)
        data = os.fsencode(text)[:size]
        self._write_out(call, call.args[buf_idx], data)
        return call.ret(len(data))

    def readlink(self, call):
        return self._do(call, self._readlink, AT_FDCWD, 0, 1, 2)

    def readlinkat(self, call):
        return self._do(call, self._readlink, call.fd_arg(0), 1, 2, 3)

    def getcwd(self, call):
        def run(call, fds):
            data = os.fsencode(self._cwd_guest(call)) + b"\0"
            if call.args[1] < len(data):
                raise _Fail(errno.ERANGE)
            self._write_out(call, call.args[0], data)
            return call.ret(len(data))
        return self._do(call, run)

    def chdir(self, call):
        def run(call, fds):
            f = self._walk(call, fds, self._path(call, 0))
            if f.fd < 0:
                raise _Fail(errno.ENOENT)
            return self._enter(call, f.fd)
        return self._do(call, run)

    def fchdir(self, call):
        def run(call, fds):
            try:
                fd = call.pidfd_getfd(call.fd_arg(0))
            except OSError:
                raise _Fail(errno.EBADF)
            fds.append(fd)
            return self._enter(call, fd)
        return self._do(call, run)

    def _enter(self, call, fd):
        if not _stat.S_ISDIR(os.fstat(fd).st_mode):
            raise _Fail(errno.ENOTDIR)
        if not os.access(f"/proc/self/fd/{fd}", os.X_OK, effective_ids=True):
            raise _Fail(errno.EACCES)
        if self._fd_guest(fd) is None:
            raise _Fail(errno.EACCES)
        d = self._path_fd(fd, os.fstat(fd))  # O_PATH fds cannot be added
        try:
            self._addfd_at(call, d, self.cwd_fd)
        finally:
            os.close(d)
        return call.ret(0)

    # ---- creating and removing ---------------------------------------------------

    def _new_entry(self, call, fds, dirfd, pidx) -> _Found:
        """Where a new entry goes: the parent must exist, the entry not."""
        path = self._path(call, pidx)
        f = self._walk(call, fds, path, dirfd, follow=False)
        if f.fd >= 0 or f.name is None:
            raise _Fail(errno.EEXIST)
        if f.parent.mount.readonly:
            raise _Fail(errno.EROFS)
        return f

    def _mkdir(self, call, fds, dirfd, pidx, mode):
        f = self._new_entry(call, fds, dirfd, pidx)
        umask = self._umask(call)
        os.mkdir(f.name, mode & ~umask & 0o7777, dir_fd=f.parent.fd)
        if (mode & ~umask & 0o7777) & self._sup_umask:
            fd = openat2(f.parent.fd, f.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0, _STEP)
            fds.append(fd)
            os.fchmod(fd, mode & ~umask & 0o7777)
        return call.ret(0)

    def mkdir(self, call):
        return self._do(call, self._mkdir, AT_FDCWD, 0, call.args[1] & 0o7777)

    def mkdirat(self, call):
        return self._do(call, self._mkdir, call.fd_arg(0), 1, call.args[2] & 0o7777)

    def _mknod(self, call, fds, dirfd, pidx, mode, dev):
        kind = _stat.S_IFMT(mode)
        if kind not in (0, _stat.S_IFREG, _stat.S_IFIFO, _stat.S_IFSOCK):
            raise _Fail(errno.EPERM)  # device nodes: never on the program's behalf
        f = self._new_entry(call, fds, dirfd, pidx)
        umask = self._umask(call)
        os.mknod(f.name, (kind or _stat.S_IFREG) | (mode & ~umask & 0o7777), 0, dir_fd=f.parent.fd)
        return call.ret(0)

    def mknod(self, call):
        return self._do(call, self._mknod, AT_FDCWD, 0, call.args[1] & 0xFFFFFFFF, call.args[2])

    def mknodat(self, call):
        return self._do(call, self._mknod, call.fd_arg(0), 1, call.args[2] & 0xFFFFFFFF,
                        call.args[3])

    def _existing_entry(self, call, fds, dirfd, pidx) -> _Found:
        path = self._path(call, pidx)
        f = self._walk(call, fds, path, dirfd, follow=False)
        if f.fd < 0:
            raise _Fail(errno.ENOENT)
        if f.name is None or f.parent is None:
            raise _Fail(errno.EBUSY)  # "/" or a mount point
        if f.parent.mount is not f.mount or f.parent.mount.kind != "dir":
            raise _Fail(errno.EBUSY if f.parent.mount.kind == "dir" else errno.EPERM)
        if f.parent.mount.readonly:
            raise _Fail(errno.EROFS)
        return f

    def _unlink(self, call, fds, dirfd, pidx, flags):
        if flags & ~AT_REMOVEDIR:
            raise _Fail(errno.EINVAL)
        f = self._existing_entry(call, fds, dirfd, pidx)
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
        old = self._existing_entry(call, fds, odir, oidx)
        npath = self._path(call, nidx)
        new = self._walk(call, fds, npath, ndir, follow=False)
        if new.parent is None or new.name is None:
            raise _Fail(errno.EBUSY)
        if new.parent.mount is not old.parent.mount:
            raise _Fail(errno.EXDEV)  # across binds, like across mounts
        if new.fd >= 0 and new.mount is not new.parent.mount:
            raise _Fail(errno.EBUSY)
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
            raise _Fail(errno.EINVAL)
        if flags & AT_EMPTY_PATH:
            raise _Fail(errno.ENOENT)  # needs CAP_DAC_READ_SEARCH in the kernel too
        opath = self._path(call, oidx)
        old = self._walk(call, fds, opath, odir, follow=bool(flags & AT_SYMLINK_FOLLOW))
        if old.fd < 0:
            raise _Fail(errno.ENOENT)
        if _stat.S_ISDIR(old.st.st_mode):
            raise _Fail(errno.EPERM)
        new = self._new_entry(call, fds, ndir, nidx)
        if new.parent.mount is not old.mount:
            raise _Fail(errno.EXDEV)
        if old.mount.kind != "dir":
            raise _Fail(errno.EXDEV)
        os.link(f"/proc/self/fd/{old.fd}", new.name, dst_dir_fd=new.parent.fd,
                follow_symlinks=True)
        return call.ret(0)

    def link(self, call):
        return self._do(call, self._link, AT_FDCWD, 0, AT_FDCWD, 1, 0)

    def linkat(self, call):
        return self._do(call, self._link, call.fd_arg(0), 1, call.fd_arg(2), 3,
                        call.args[4] & 0xFFFFFFFF)

    def _symlink(self, call, fds, tidx, ndir, nidx):
        target = self._path(call, tidx)  # stored verbatim
        new = self._new_entry(call, fds, ndir, nidx)
        os.symlink(target, new.name, dir_fd=new.parent.fd)
        return call.ret(0)

    def symlink(self, call):
        return self._do(call, self._symlink, 0, AT_FDCWD, 1)

    def symlinkat(self, call):
        return self._do(call, self._symlink, 0, call.fd_arg(1), 2)

    # ---- changing attributes -------------------------------------------------------

    def _writable_target(self, call, fds, dirfd, pidx, flags) -> int:
        fd = self._target(call, fds, dirfd, pidx, flags)
        m = self._mount_of_fd(fd)
        if m is not None and m.readonly:
            raise _Fail(errno.EROFS)
        if m is None and not self._is_proc(fd):
            raise _Fail(errno.EACCES)
        return fd

    @staticmethod
    def _is_proc(fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}").startswith("/proc/")
        except OSError:
            return False

    def _chmod(self, call, fds, dirfd, pidx, mode, flags):
        fd = self._writable_target(call, fds, dirfd, pidx, flags)
        if _stat.S_ISLNK(os.fstat(fd).st_mode):
            raise _Fail(errno.EOPNOTSUPP)
        os.chmod(f"/proc/self/fd/{fd}", mode & 0o7777)
        return call.ret(0)

    def chmod(self, call):
        return self._do(call, self._chmod, AT_FDCWD, 0, call.args[1], 0)

    def fchmodat(self, call):
        return self._do(call, self._chmod, call.fd_arg(0), 1, call.args[2], 0)

    def fchmodat2(self, call):
        return self._do(call, self._chmod, call.fd_arg(0), 1, call.args[2],
                        call.args[3] & 0xFFFFFFFF)

    def _chown(self, call, fds, dirfd, pidx, uid, gid, flags):
        fd = self._writable_target(call, fds, dirfd, pidx, flags)
        u = -1 if uid & 0xFFFFFFFF == 0xFFFFFFFF else uid & 0xFFFFFFFF
        g = -1 if gid & 0xFFFFFFFF == 0xFFFFFFFF else gid & 0xFFFFFFFF
        _native.fchownat(fd, b"", u, g, AT_EMPTY_PATH)
        return call.ret(0)

    def chown(self, call):
        return self._do(call, self._chown, AT_FDCWD, 0, call.args[1], call.args[2], 0)

    def lchown(self, call):
        return self._do(call, self._chown, AT_FDCWD, 0, call.args[1], call.args[2],
                        AT_SYMLINK_NOFOLLOW)

    def fchownat(self, call):
        return self._do(call, self._chown, call.fd_arg(0), 1, call.args[2], call.args[3],
                        call.args[4] & 0xFFFFFFFF)

    def utimensat(self, call):
        def run(call, fds):
            flags = call.args[3] & 0xFFFFFFFF
            times = None
            if call.args[2]:
                times = call.read(call.args[2], 32)
                if times is None or len(times) != 32:
                    raise _Fail(errno.EFAULT)
            if call.args[1] == 0:  # futimens(dirfd)
                try:
                    fd = call.pidfd_getfd(call.fd_arg(0))
                except OSError:
                    raise _Fail(errno.EBADF)
                fds.append(fd)
                m = self._mount_of_fd(fd)
                if m is not None and m.readonly:
                    raise _Fail(errno.EROFS)
                _native.utimensat(fd, b"", times, 0)
                return call.ret(0)
            fd = self._writable_target(call, fds, call.fd_arg(0), 1, flags)
            _native.utimensat(fd, b"", times, AT_EMPTY_PATH)
            return call.ret(0)
        return self._do(call, run)

    def truncate(self, call):
        def run(call, fds):
            fd = self._writable_target(call, fds, AT_FDCWD, 0, 0)
            w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY |
                        os.O_NONBLOCK)
            fds.append(w)
            os.ftruncate(w, call.args[1])
            return call.ret(0)
        return self._do(call, run)

    def inotify_add_watch(self, call):
        def run(call, fds):
            mask = call.args[2] & 0xFFFFFFFF
            f = self._walk(call, fds, self._path(call, 1), AT_FDCWD, not mask & IN_DONT_FOLLOW)
            if f.fd < 0:
                raise _Fail(errno.ENOENT)
            try:
                ifd = call.pidfd_getfd(call.fd_arg(0))
            except OSError:
                raise _Fail(errno.EBADF)
            fds.append(ifd)
            wd = _native.inotify_add_watch(ifd, f"/proc/self/fd/{f.fd}".encode(),
                                           mask & ~IN_DONT_FOLLOW)
            return call.ret(wd)
        return self._do(call, run)

    # ---- namespaces and everything else ------------------------------------------------

    def unshare(self, call):
        if call.args[0] & (CLONE_NEWNS | CLONE_NEWUSER):
            return call.fail(errno.EPERM)
        return call.next()

    def setns(self, call):
        nstype = call.args[1] & 0xFFFFFFFF
        if nstype == 0 or nstype & (CLONE_NEWNS | CLONE_NEWUSER):
            return call.fail(errno.EPERM)
        return call.next()

    def syscall(self, call):
        """Path calls not translated (yet) and path-check bypasses: refused."""
        return call.fail(_NOT_SUPPORTED_ERRNO.get(call.name, errno.EPERM))

    # ---- execve ------------------------------------------------------------------------

    def execve(self, call):
        return self._do(call, self._exec, AT_FDCWD, 0, 0)

    def execveat(self, call):
        return self._do(call, self._exec, call.fd_arg(0), 1, call.args[4] & 0xFFFFFFFF)

    def _exec(self, call, fds, dirfd, pidx, flags):
        path = "" if call.args[pidx] == 0 and flags & AT_EMPTY_PATH else self._path(call, pidx)
        checked: list[_Mount | None] = []
        if path == "" and flags & AT_EMPTY_PATH:
            try:
                vfd = call.pidfd_getfd(dirfd)
            except OSError:
                raise _Fail(errno.EBADF)
            fds.append(vfd)
            link = os.readlink(f"/proc/self/fd/{vfd}")
            m = self._mount_of_fd(vfd)
            if m is None and not link.startswith("/memfd:"):
                raise _Fail(errno.EACCES)  # an fd from outside the view
            checked.append(m)
        else:
            f = self._walk(call, fds, path, dirfd, follow=not flags & AT_SYMLINK_NOFOLLOW)
            if f.fd < 0:
                raise _Fail(errno.ENOENT)
            vfd = f.fd
            real = self._real_open(call, fds, dirfd, path, flags)
            self._same(vfd, real, path)
            checked.append(self._mount_of_fd(vfd))
        if not _stat.S_ISREG(os.fstat(vfd).st_mode):
            raise _Fail(errno.EACCES)
        self._check_interp(call, fds, vfd, checked, 0)
        self._race_guard(call, checked)
        # The one CONTINUE: the file, its interpreters and the kernel's own
        # resolution were checked to be the same inodes; the race guard
        # made a later change harmless (Landlock) or impossible.
        call._mem.read_by = None
        return call.next()

    def _real_open(self, call, fds, dirfd, path, flags) -> int:
        """The file the kernel itself will find for this exec path."""
        nof = os.O_NOFOLLOW if flags & AT_SYMLINK_NOFOLLOW else 0
        if path.startswith("/"):
            base = AT_FDCWD
        elif dirfd == AT_FDCWD:
            base = os.open(f"/proc/{call.tid}/cwd", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            fds.append(base)
            if not self._valid(call):
                raise _Fail(errno.ESRCH)
        else:
            base = call.pidfd_getfd(dirfd)
            fds.append(base)
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC | nof, dir_fd=base)
        except OSError:
            self._say("exec:" + path, f"sysvisor: confine: exec of {path} refused (EACCES): the "
                      "kernel resolves exec paths and interpreters in the real filesystem, where "
                      "this path does not exist; bind it at its host path")
            raise _Fail(errno.EACCES)
        fds.append(fd)
        return fd

    def _same(self, vfd: int, rfd: int, what: str) -> None:
        a, b = os.fstat(vfd), os.fstat(rfd)
        if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
            self._say("exec:" + what, f"sysvisor: confine: exec of {what} refused (EACCES): the "
                      "kernel resolves exec paths and ELF/#! interpreters in the real filesystem, "
                      "where this path is another file than in the view; bind it at its host path")
            raise _Fail(errno.EACCES)

    def _check_interp(self, call, fds, vfd: int, checked: list, depth: int) -> None:
        if depth > 4:
            raise _Fail(errno.ELOOP)
        try:
            r = os.open(f"/proc/self/fd/{vfd}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return  # not readable: the kernel decides (EACCES)
        fds.append(r)
        head = os.pread(r, 256, 0)
        interp = None
        if head.startswith(b"#!"):
            line = head[2:].split(b"\n", 1)[0].strip()
            if not line:
                return
            interp = os.fsdecode(line.split()[0])
        elif head.startswith(b"\x7fELF") and len(head) >= 64 and head[4] == 2:
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            for i in range(min(phnum, 128)):
                ph = os.pread(r, phentsize, phoff + i * phentsize)
                if len(ph) < 56:
                    break
                ptype, = struct.unpack_from("<I", ph, 0)
                if ptype == 3:  # PT_INTERP
                    off, = struct.unpack_from("<Q", ph, 8)
                    size, = struct.unpack_from("<Q", ph, 32)
                    interp = os.fsdecode(os.pread(r, min(size, PATH_MAX), off).split(b"\0")[0])
                    break
        elif head.startswith(b"\x7fELF"):
            raise _Fail(errno.ENOEXEC)  # 32-bit ELF: the compat ABI is not translated
        if interp is None:
            return
        if not interp.startswith("/"):
            raise _Fail(errno.EACCES)
        f = self._walk(call, fds, interp, AT_FDCWD, True)
        if f.fd < 0:
            raise _Fail(errno.ENOENT)
        real = self._real_open(call, fds, AT_FDCWD, interp, 0)
        self._same(f.fd, real, interp)
        checked.append(self._mount_of_fd(f.fd))
        self._check_interp(call, fds, f.fd, checked, depth + 1)

    def _race_guard(self, call, checked: list) -> None:
        if self.landlock_active:
            return
        why = None
        if any(m is None or not m.readonly for m in checked):
            why = "the file is on a writable mount"
        else:
            try:
                st = _status_fields(call.tid)
                if st.get("Threads") != "1":
                    why = "the process has several threads"
                elif self._shares_mm(call.pid):
                    why = "another process shares its memory"
            except OSError:
                why = "the process is gone"
        if why:
            self._say("race:" + why, f"sysvisor: confine: exec refused (EPERM): without Landlock "
                      f"an exec can only be let run when nothing can race it, and {why}")
            raise _Fail(errno.EPERM)

    @staticmethod
    def _shares_mm(pid: int) -> bool:
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == pid:
                continue
            try:
                if _native.kcmp(pid, int(name), KCMP_VM) == 0:
                    return True
            except OSError:
                continue
        return False
