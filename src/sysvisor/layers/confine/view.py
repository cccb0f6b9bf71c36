"""The confinement view: a root directory plus binds, and the race-free walk
that resolves a guest path in it.

A guest path is resolved by the supervisor one component at a time: each
component is opened with openat2(dirfd, name, O_PATH|O_NOFOLLOW,
RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS) under the O_PATH fd of the directory
reached so far, so nothing the program does to the filesystem meanwhile can
redirect a step outside the view. ".." pops the walk's own stack (never
above "/"); a symlink's text is resolved *in the view* (an absolute target
restarts at the guest root); reaching a bind's guest path switches to the
bind's fd. Symlinks therefore cross binds as on a real system with bind
mounts (a merged-/usr root whose /lib64 -> usr/lib64 works with a bind of
/usr), which a single openat2(bindfd, rest, RESOLVE_IN_ROOT) could not do.

Fast paths: a path without ".." whose parent directory lies inside one
mount is resolved with one openat2(mountfd, parent, O_PATH|O_DIRECTORY,
RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS) and the last
component as above; and `fast_open` opens an absolute path with the
program's own flags in a single openat2 under its mount's fd with the same
restrictions. The kernel refuses any symlink on the way (then the walk
starts again component by component), so the result is the one the slow
walk would give, in one or two system calls instead of one per component.
"""
from __future__ import annotations

import errno
import os
import stat as _stat
import tempfile

from ... import _native
from ...kernel.openat2 import RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, \
    RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV, openat2

_openat2 = _native.openat2  # (dirfd, bytes path, flags, mode, resolve): the hot path

MAXSYMLINKS = 40
OPATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
STEP = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS
FAST = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
PROC_SELF = ("/proc/self", "/proc/thread-self")


class Fail(Exception):
    """The call fails with this errno."""

    def __init__(self, err: int):
        super().__init__(err)
        self.err = err


class Mount:
    """A directory of the view: the root ("/"), a bind, the /proc/self of a
    process (kind "proc"), or the empty stand-in for a missing directory
    that leads to a bind (kind "empty")."""

    __slots__ = ("guest", "host", "fd", "readonly", "kind")

    def __init__(self, guest: str, host: str, fd: int, readonly: bool, kind: str = "dir"):
        self.guest, self.host, self.fd, self.readonly, self.kind = guest, host, fd, readonly, kind

    def __repr__(self) -> str:
        return f"<mount {self.host} on {self.guest}{' ro' if self.readonly else ''}>"


class Entry:
    """One directory of a walk: its guest path, O_PATH fd and mount."""

    __slots__ = ("guest", "fd", "mount")

    def __init__(self, guest: str, fd: int, mount: Mount):
        self.guest, self.fd, self.mount = guest, fd, mount


class Found:
    """The result of a walk. fd: O_PATH fd of the final object (-1: it does
    not exist; then parent/name say where it would be created); st: its
    stat; name None: the object is "/" or a mount root (no parent entry to
    create or remove)."""

    __slots__ = ("parent", "name", "fd", "st", "mount", "guest")

    def __init__(self, parent, name, fd, st, mount, guest):
        self.parent, self.name, self.fd, self.st, self.mount, self.guest = \
            parent, name, fd, st, mount, guest

    @property
    def readonly(self) -> bool:
        m = self.mount if self.fd >= 0 or self.parent is None else self.parent.mount
        return m.readonly


class _Restart(Exception):
    """The fast path cannot go on (a ".." above its compressed entry)."""


def split(p: str) -> list[str]:
    return [c for c in p.split("/") if c and c != "."]


def join(a: str, b: str) -> str:
    return "/" + b if a == "/" else a + "/" + b


def norm_guest(g: str) -> str:
    return "/" + "/".join(c for c in os.path.normpath("/" + g).split("/") if c)


class View:
    """root: the host directory shown as "/"; binds: (host, guest,
    readonly); the longest guest path wins. The view holds O_PATH fds of
    every mount (release() closes them)."""

    def __init__(self, root: str, binds=(), root_readonly: bool = False):
        self.fds: list[int] = []
        self.mounts: dict[str, Mount] = {}
        self.root = self._mount(root, "/", root_readonly)
        for host, guest, ro in binds:
            self._mount(host, norm_guest(guest), ro)
        # guest directories that lead to a bind but are missing in the view:
        # shown as an empty read-only directory (like a mount point)
        self.ancestors: set[str] = {"/proc"}  # /proc/self is built in
        for g in self.mounts:
            while g != "/":
                g = os.path.dirname(g)
                self.ancestors.add(g)
        self.empty_dir = tempfile.mkdtemp(prefix="sysvisor-confine-empty-")
        os.chmod(self.empty_dir, 0o555)
        efd = os.open(self.empty_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.fds.append(efd)
        self.empty = Mount("", os.readlink(f"/proc/self/fd/{efd}"), efd, True, "empty")
        self.by_host = sorted(self.mounts.values(), key=lambda m: len(m.host), reverse=True)
        # for fast_open: mounts longest guest path first, and the prefixes
        # of directories the slow walk shows as empty stand-ins
        self.by_guest = sorted(self.mounts.values(), key=lambda m: len(m.guest), reverse=True)
        self.stand_in_prefixes = tuple(a + "/" for a in self.ancestors if a != "/")
        # first components of the binds' guest paths: never a root symlink's
        self.mounts_first = {g[1:].split("/", 1)[0] for g in self.mounts if g != "/"}
        self._links: dict[str, str] = {}
        self._links_key = None

    def _mount(self, host: str, guest: str, ro: bool) -> Mount:
        fd = os.open(host, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.fds.append(fd)
        m = Mount(guest, os.readlink(f"/proc/self/fd/{fd}"), fd, ro)
        self.mounts[guest] = m
        return m

    def release(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []
        self.remove_empty_dir()

    def remove_empty_dir(self) -> None:
        try:
            os.rmdir(self.empty_dir)
        except OSError:
            pass

    # ---- host <-> guest ---------------------------------------------------------

    def guest_of_host(self, host: str) -> str | None:
        """The guest path of a host path inside the view (None: outside)."""
        if host.endswith(" (deleted)") or not host.startswith("/"):
            return None
        for m in self.by_host:
            h = m.host
            if host == h:
                return m.guest
            if host.startswith(h if h.endswith("/") else h + "/"):
                return join(m.guest, host[len(h):].lstrip("/"))
        return None

    def mount_of_host(self, host: str) -> Mount | None:
        for m in self.by_host:
            if host == m.host or host.startswith(m.host.rstrip("/") + "/"):
                return m
        return None

    def mount_of_fd(self, fd: int) -> Mount | None:
        try:
            return self.mount_of_host(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return None

    def fd_guest(self, fd: int) -> str | None:
        try:
            return self.guest_of_host(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return None

    # ---- the walk -----------------------------------------------------------------

    def simple(self, path: str):
        """(mount, rest as bytes) when the absolute guest path can go to one
        openat2 under the mount's fd, else None (the walk decides)."""
        if path[:1] != "/" or "/." in path or path.startswith("/proc/") or path == "/proc" \
                or "//" in path:
            return None
        for m in self.by_guest:
            g = m.guest
            if g == "/":
                return m, os.fsencode(path[1:] or ".")
            if path == g:
                return m, b"."
            if path.startswith(g) and path[len(g)] == "/":
                return m, os.fsencode(path[len(g) + 1:] or ".")
        return None

    def fast_open(self, path: str, flags: int, mode: int = 0):
        """Open an absolute guest path with these flags in one openat2 (see
        the module docstring): (fd, mount), or None when the walk must
        decide (a "..", a stand-in directory, /proc, a symlink the fast
        path does not follow). Symlinks it does follow, as the walk would:
        the root's own top-level links (/lib -> usr/lib), and a link as the
        last component. Raises OSError for the kernel's other answers."""
        r = self.fast_path(path, flags, mode)
        return None if r is None else r[:2]

    def fast_path(self, path: str, flags: int, mode: int = 0):
        """fast_open, also giving the guest path reached: (fd, mount, guest)."""
        for _hop in range(8):
            path = self._top_link(path)
            s = self.simple(path)
            if s is None:
                return None
            m, rest = s
            try:
                return _openat2(m.fd, rest, flags | os.O_CLOEXEC, mode, FAST), m, path
            except OSError as e:
                if self.stand_in_prefixes and path.startswith(self.stand_in_prefixes):
                    return None
                if e.errno != errno.ELOOP:
                    if e.errno in (errno.EXDEV, errno.EAGAIN):
                        return None
                    raise
            if flags & os.O_NOFOLLOW:
                return None  # the walk tells a trailing link from one on the way
            target = self._last_link(m, rest)
            if target is None:
                return None
            if target.startswith("/"):
                path = target
                continue
            # the parent was reached without a symlink: a leading ".." of the
            # target is its real parent (as the walk's stack pops it)
            parent = path.rsplit("/", 1)[0] or "/"
            while target.startswith("../") or target == "..":
                parent = parent.rsplit("/", 1)[0] or "/"
                target = target[3:]
            path = join(parent, target) if target else parent
        return None

    def _last_link(self, m: Mount, rest: bytes) -> str | None:
        """The text of rest's last component if it is a symlink and the
        rest resolves without one; else None."""
        parent, _, name = rest.rpartition(b"/")
        try:
            pfd = _openat2(m.fd, parent or b".", OPATH | os.O_DIRECTORY, 0, FAST)
        except OSError:
            return None
        try:
            return os.readlink(os.fsdecode(name), dir_fd=pfd)
        except OSError:
            return None
        finally:
            os.close(pfd)

    def _top_link(self, path: str) -> str:
        """path with a first component that is a symlink of the root
        directory replaced by its text (cached while the root directory's
        mtime and ctime stay the same: any change to its entries moves
        them)."""
        first, sep, rest = path[1:].partition("/")
        links = self._root_links()
        target = links.get(first)
        if target is None or first in self.mounts_first:
            return path
        if not target.startswith("/"):
            target = "/" + target
        return target.rstrip("/") + (sep + rest if sep else "")

    def _root_links(self) -> dict[str, str]:
        st = os.fstat(self.root.fd)
        key = (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        if key != self._links_key:
            links = {}
            try:
                for e in os.scandir(f"/proc/self/fd/{self.root.fd}"):
                    if e.is_symlink():
                        links[e.name] = os.readlink(e.name, dir_fd=self.root.fd)
            except OSError:
                links = {}
            self._links, self._links_key = links, key
        return self._links

    def walk(self, fds: list[int], path: str, base: str, follow: bool = True, resolve: int = 0,
             proc=None) -> Found:
        """Resolve a guest path race-free. base: the guest directory a
        relative path (or the program's own RESOLVE_BENEATH/IN_ROOT jail)
        starts from; resolve: the program's own openat2 RESOLVE_* flags;
        proc: the caller's /proc/self (see Confine) or None. Every fd
        opened is appended to fds (the caller closes them)."""
        if path == "":
            raise Fail(errno.ENOENT)
        if not resolve:
            try:
                return self._walk(fds, path, base, follow, 0, proc, fast=True)
            except _Restart:
                pass
        return self._walk(fds, path, base, follow, resolve, proc, fast=False)

    def _fast_start(self, fds, comps: list[str]):
        """The parent directory of comps in one openat2, or None."""
        if len(comps) < 2 or comps[0] == "proc" or ".." in comps:
            return None
        parent = comps[:-1]
        for k in range(len(parent), -1, -1):
            g = "/" + "/".join(parent[:k])
            m = self.mounts.get(g)
            if m is None:
                continue
            if k == len(parent):
                return Entry(g, m.fd, m)
            try:
                fd = openat2(m.fd, "/".join(parent[k:]), OPATH | os.O_DIRECTORY, 0, FAST)
            except OSError:
                return None  # a symlink, a missing directory...: the slow walk says
            fds.append(fd)
            return Entry("/" + "/".join(parent), fd, m)
        return None

    def _walk(self, fds, path, base, follow, resolve, proc, fast):
        if path.endswith("/"):
            follow = True
            must_dir = True
        else:
            must_dir = False
        jail = resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)
        rootent = Entry("/", self.root.fd, self.root)
        stack = [rootent]
        absolute = path.startswith("/")
        floor = 1  # ".." never pops below this many entries
        nbase = -1
        if jail:  # the program's own openat2 jail: its dirfd is the limit
            if absolute and resolve & RESOLVE_BENEATH:
                raise Fail(errno.EXDEV)
            bcomps = split(base)
            nbase = len(bcomps)
            floor = None
            comps = bcomps + split(path)
        elif not absolute:
            comps = split(base) + split(path)
        else:
            comps = split(path)
        compressed = 0  # with the fast path: ".." must not pop below this
        if fast:
            start = self._fast_start(fds, comps)
            if start is not None:
                stack.append(start)
                compressed = 2
                comps = comps[-1:]
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
                if len(stack) <= compressed:
                    raise _Restart()
                if len(stack) <= (floor or 1):
                    if resolve & RESOLVE_BENEATH:
                        raise Fail(errno.EXDEV)
                    last_name = None
                    continue
                if len(stack) > 1:
                    stack.pop()
                last_name = None
                continue
            cur = stack[-1]
            g = join(cur.guest, c)
            if cur.mount.kind == "dir" or cur.mount.kind == "empty":
                if g in PROC_SELF:
                    if proc is None:
                        raise Fail(errno.ENOENT)
                    pfd = proc.open_dir(fds, g == "/proc/thread-self")
                    stack.append(Entry(g, pfd, Mount(g, "", pfd, False, "proc")))
                    last_name = None
                    if is_last:
                        return Found(None, None, pfd, os.fstat(pfd), stack[-1].mount, g)
                    continue
                bm = self.mounts.get(g)
                if bm is not None and bm is not self.root:
                    if resolve & RESOLVE_NO_XDEV:
                        raise Fail(errno.EXDEV)
                    stack.append(Entry(g, bm.fd, bm))
                    last_name = None if is_last else c
                    if is_last:
                        return Found(None, None, bm.fd, os.fstat(bm.fd), bm, g)
                    continue
            try:
                fd = openat2(cur.fd, c, OPATH, 0, STEP)
            except FileNotFoundError:
                if g in self.ancestors:  # leads to a bind: an empty directory
                    stack.append(Entry(g, self.empty.fd, self.empty))
                    last_name = c
                    if is_last:
                        return Found(cur, c, self.empty.fd, os.fstat(self.empty.fd), self.empty, g)
                    continue
                if is_last:
                    return Found(cur, c, -1, None, cur.mount, g)
                raise
            fds.append(fd)
            st = os.fstat(fd)
            if _stat.S_ISLNK(st.st_mode):
                if is_last and not follow:
                    return Found(cur, c, fd, st, cur.mount, g)
                if resolve & RESOLVE_NO_SYMLINKS:
                    raise Fail(errno.ELOOP)
                nlinks += 1
                if nlinks > MAXSYMLINKS:
                    raise Fail(errno.ELOOP)
                target = self._link_target(cur, c, fd, proc)
                if target.startswith("/"):
                    if jail:
                        if resolve & RESOLVE_BENEATH:
                            raise Fail(errno.EXDEV)
                        del stack[floor:]
                    else:
                        del stack[1:]
                        compressed = 0
                tcomps = split(target)
                if not tcomps and not comps and not target.startswith("/"):
                    raise Fail(errno.ENOENT)
                comps = tcomps + comps
                continue
            if not is_last and not _stat.S_ISDIR(st.st_mode):
                raise Fail(errno.ENOTDIR)
            stack.append(Entry(g, fd, cur.mount))
            last_name = c
            if is_last:
                if must_dir and not _stat.S_ISDIR(st.st_mode):
                    raise Fail(errno.ENOTDIR)
                return Found(cur, c, fd, st, cur.mount, g)
        # ended on "/", a mount root, "..", "." or a followed symlink
        top = stack[-1]
        st = os.fstat(top.fd)
        if must_dir and not _stat.S_ISDIR(st.st_mode):
            raise Fail(errno.ENOTDIR)
        if last_name is not None and len(stack) > 1:
            return Found(stack[-2], last_name, top.fd, st, top.mount, top.guest)
        return Found(None, None, top.fd, st, top.mount, top.guest)

    @staticmethod
    def _link_target(cur: Entry, name: str, fd: int, proc) -> str:
        """The text of a symlink as a guest path; inside /proc/PID the
        kernel's magic links are translated into the view by `proc`."""
        text = os.readlink("", dir_fd=fd)
        if cur.mount.kind != "proc":
            return text
        return proc.link(cur, name, text)
