"""Remap: path prefix remapping and read-only binds, like proot's -b.

    r = Remap([Bind("/data", "/srv/store"), Bind("/usr", "/usr", readonly=True)])
    sysvisor.run(["sh", "-c", "ls /data; touch /usr/x"], layers=[r])   # touch: EROFS

    Remap.from_spec(["/srv/store:/data"], ro=["/usr"])   # HOST:GUEST, like --bind

Every path argument of every path-taking syscall (the indexes come from
the prototypes: `policy.path_args`) is read, made absolute in the *guest*
view (a relative path is joined to the guest path of the cwd or of its
dirfd), normalised lexically (`.`, `..`, `//`; `..` never climbs above
`/`, as with proot's binds) and mapped through the longest guest prefix
that matches whole components. When the result is not what the kernel
would resolve anyway, the new path is copied below the program's stack
(`call.push`) and the argument points at it (`call.set_arg`). A write
through a read-only bind (open for writing or truncating, O_CREAT of a
missing file, mkdir, unlink, rename, link, symlink, chmod, chown, utimes,
xattrs, access/faccessat with W_OK...) fails with EROFS without running.
On the way back, getcwd's result and absolute readlink/readlinkat results
under a host prefix are mapped to their guest paths (the longest host
prefix wins), so /proc/self/cwd and /proc/self/exe read as the guest sees
them.

Advisory, NOT a security boundary: the program can change a path between
the layer's read and the kernel's (ptrace and seccomp re-read memory), a
symlink inside a bind is resolved by the kernel on the host (an absolute
link target is not mapped), and calls that take no path (openat on an fd
obtained elsewhere, io_uring, open_by_handle_at) are not seen. For a
boundary use the Confine layer on the unotify method. Needs a method that
can change arguments (ptrace, seccomp; sud and preload run the compiled
form, see sysvisor.compiled).
"""
from __future__ import annotations

import errno as _errno
import os
from dataclasses import dataclass

from ..errors import UsageError
from ..layer import Layer
from .policy import path_args

PATH_MAX = 4096
AT_FDCWD = -100
O_ACCMODE, O_CREAT, O_EXCL, O_TRUNC = 3, 0o100, 0o200, 0o1000
W_OK = 2

# how a path argument writes: always, by open flags (argument index), by an
# open_how's flags (pointer argument index), by an access mode (argument index)
NEVER, ALWAYS, OPEN_FLAGS, OPEN_HOW, ACCESS_MODE = 0, 1, 2, 3, 4

# syscall -> {path argument index: (kind, argument index of the flags/mode)}
# (a syscall not listed only reads through its paths)
WRITES: dict[str, dict[int, tuple[int, int]]] = {
    "open": {0: (OPEN_FLAGS, 1)}, "openat": {1: (OPEN_FLAGS, 2)}, "openat2": {1: (OPEN_HOW, 2)},
    "creat": {0: (ALWAYS, 0)},
    "access": {0: (ACCESS_MODE, 1)}, "faccessat": {1: (ACCESS_MODE, 2)},
    "faccessat2": {1: (ACCESS_MODE, 2)},
    "rename": {0: (ALWAYS, 0), 1: (ALWAYS, 0)}, "renameat": {1: (ALWAYS, 0), 3: (ALWAYS, 0)},
    "renameat2": {1: (ALWAYS, 0), 3: (ALWAYS, 0)},
    "link": {1: (ALWAYS, 0)}, "linkat": {3: (ALWAYS, 0)},
    "symlink": {1: (ALWAYS, 0)}, "symlinkat": {2: (ALWAYS, 0)},
}
for _name, _i in (("truncate", 0), ("truncate64", 0), ("mkdir", 0), ("rmdir", 0), ("unlink", 0),
                  ("mknod", 0), ("chmod", 0), ("chown", 0), ("lchown", 0), ("chown32", 0),
                  ("lchown32", 0), ("utime", 0), ("utimes", 0), ("setxattr", 0),
                  ("lsetxattr", 0), ("removexattr", 0), ("lremovexattr", 0), ("mkdirat", 1),
                  ("mknodat", 1), ("fchownat", 1), ("futimesat", 1), ("unlinkat", 1),
                  ("fchmodat", 1), ("fchmodat2", 1), ("utimensat", 1), ("utimensat_time64", 1),
                  ("setxattrat", 1), ("removexattrat", 1), ("file_setattr", 1)):
    WRITES[_name] = {_i: (ALWAYS, 0)}

# the results that are paths: syscall -> (buffer argument, size argument)
GETCWD = {"getcwd": (0, 1)}
READLINK = {"readlink": (1, 2), "readlinkat": (2, 3)}

_DIRFD_NAMES = frozenset({"dfd", "dirfd", "olddfd", "newdfd", "from_dfd", "to_dfd"})


def dirfd_index(syscall, i: int) -> int:
    """The index of the dirfd argument path argument i is relative to, or -1
    (relative to the cwd)."""
    if i == 0 or syscall is None:
        return -1
    prev = syscall.args[i - 1].replace("const ", "")
    name = prev.rsplit(" ", 1)[-1]
    if "*" in prev:
        return -1
    if name in _DIRFD_NAMES or (syscall.name == "fanotify_mark" and name == "fd"):
        return i - 1
    return -1


def normalize(path: bytes) -> bytes:
    """Lexical normalisation of an absolute path: `.` and empty components
    go, `..` removes the previous component (never above `/`); a trailing
    slash is kept (it means "a directory")."""
    out: list[bytes] = []
    for comp in path.split(b"/"):
        if comp == b"" or comp == b".":
            continue
        if comp == b"..":
            if out:
                out.pop()
            continue
        out.append(comp)
    p = b"/" + b"/".join(out)
    if path.endswith(b"/") and p != b"/":
        p += b"/"
    return p


def _under(path: bytes, prefix: bytes) -> bool:
    return prefix == b"/" or path == prefix or path.startswith(prefix + b"/") or (
        path.endswith(b"/") and path[:-1] == prefix)


def _join(prefix: bytes, rest: bytes) -> bytes:
    if not rest:
        return prefix
    return (prefix.rstrip(b"/") + rest) if rest.startswith(b"/") else prefix.rstrip(b"/") + b"/" + rest


@dataclass(frozen=True)
class Bind:
    """guest: the path the program uses; host: where it really is;
    readonly: writes through it fail with EROFS."""

    guest: str
    host: str
    readonly: bool = False

    def __post_init__(self):
        for what, p in (("guest", self.guest), ("host", self.host)):
            if not p.startswith("/"):
                raise UsageError(f"bind {what} path must be absolute: {p!r}")
            if len(os.fsencode(p)) >= PATH_MAX:
                raise UsageError(f"bind {what} path is too long: {p[:40]!r}...")


class BindTable:
    """Guest <-> host translation over a list of binds (longest prefix)."""

    def __init__(self, binds):
        self.binds = [(normalize(os.fsencode(b.guest)).rstrip(b"/") or b"/",
                       normalize(os.fsencode(b.host)).rstrip(b"/") or b"/", b.readonly)
                      for b in binds]
        by_guest = sorted(self.binds, key=lambda b: len(b[0]), reverse=True)
        by_host = sorted(self.binds, key=lambda b: len(b[1]), reverse=True)
        self._by_guest, self._by_host = by_guest, by_host
        self._moved = [g for g, h, _ro in by_guest if g != h]  # binds that change paths

    def walk_enters_bind(self, start: bytes, rel: bytes) -> bool:
        """Whether resolving `rel` lexically from the guest directory `start`
        passes through a bind that moves paths (then `..` must be resolved
        in the guest view, not by the kernel on the host)."""
        if not self._moved:
            return False
        stack = [c for c in start.split(b"/") if c]
        for comp in rel.split(b"/"):
            if comp == b"" or comp == b".":
                continue
            if comp == b"..":
                if stack:
                    stack.pop()
            else:
                stack.append(comp)
            p = b"/" + b"/".join(stack)
            if any(_under(p, g) for g in self._moved):
                return True
        return False

    def to_host(self, guest: bytes) -> tuple[bytes, bool]:
        """(host path, read-only) of a normalised guest path."""
        for g, h, ro in self._by_guest:
            if _under(guest, g):
                return _join(h, guest[len(g):] if g != b"/" else guest), ro
        return guest, False

    def to_guest(self, host: bytes) -> bytes:
        """The guest path of a host path (identity outside every bind)."""
        for g, h, _ro in self._by_host:
            if _under(host, h):
                return _join(g, host[len(h):] if h != b"/" else host)
        return host


def _writes(call, how: tuple[int, int], host: bytes) -> bool:
    kind, k = how
    if kind == ALWAYS:
        return True
    if kind == ACCESS_MODE:
        return bool(call.args[k] & W_OK)
    if kind == OPEN_HOW:
        raw = call.read(call.args[k], 8)
        if raw is None or len(raw) < 8:
            return False  # the kernel will fail it with EFAULT
        flags = int.from_bytes(raw, "little")
    else:
        flags = call.args[k] & 0xFFFFFFFF
    if flags & O_ACCMODE in (1, 2) or flags & O_TRUNC:
        return True
    if flags & O_CREAT:  # creating a file writes; opening one that exists does not
        return bool(flags & O_EXCL) or not os.path.exists(host)
    return False


class Remap(Layer):
    """Path prefix remapping and read-only binds (see the module
    docstring). binds: Bind objects (guest -> host)."""

    needs = frozenset({"change_args", "answer", "result"})

    def __init__(self, binds):
        self.bind_list = list(binds)
        self.table = BindTable(self.bind_list)
        self._plans: dict[tuple[str, int], tuple] = {}
        self._tables: set[str] = set()

    @classmethod
    def from_spec(cls, binds=(), ro=()) -> "Remap":
        """binds: "HOST:GUEST" (or "PATH" for PATH:PATH) strings, like
        proot's -b; ro: guest paths that are read-only ("HOST:GUEST" too)."""
        out = []
        for spec, readonly in [(b, False) for b in binds] + [(r, True) for r in ro]:
            host, sep, guest = spec.partition(":")
            out.append(Bind(guest if sep else host, host, readonly))
        return cls(out)

    # ---- which syscalls, which arguments -----------------------------------------------

    def plan(self, table, nr: int):
        """(((path index, dirfd index, write rule or None), ...), result) for
        syscall nr; result is None, ("getcwd", buf, size) or ("readlink",
        buf, size). None when the layer has nothing to do with it."""
        self._resolve(table)
        return self._plans.get((table.arch, nr))

    def _resolve(self, table) -> None:
        if table.arch in self._tables:
            return
        self._tables.add(table.arch)
        for sc in table:
            paths = tuple((i, dirfd_index(sc, i), WRITES.get(sc.name, {}).get(i))
                          for i in path_args(sc))
            result = None
            if sc.name in GETCWD:
                result = ("getcwd", *GETCWD[sc.name])
            elif sc.name in READLINK:
                result = ("readlink", *READLINK[sc.name])
            if paths or result:
                self._plans[(table.arch, sc.nr)] = (paths, result)

    def interests(self, table):
        self._resolve(table)
        return {nr: None for (arch, nr) in self._plans if arch == table.arch}

    # ---- the compiled form (sysvisor.compiled) -----------------------------------------

    def compile(self, b) -> None:
        """All of it: the binds, and per syscall its path arguments and
        their write rules, and the results mapped back."""
        from ..compiled import blob as B

        if not b.set_binds(self.table.binds):
            return  # another Remap of the stack owns the blob's binds: this one crosses
        self._resolve(b.table)
        for (arch, nr), (paths, result) in self._plans.items():
            if arch != b.arch:
                continue
            specs = tuple((i, dfd, how[0] if how else B.W_NEVER, how[1] if how else 0)
                          for i, dfd, how in paths)
            kind, buf, size = result if result else (None, 0, 0)
            res = {None: B.RES_NONE, "getcwd": B.RES_GETCWD, "readlink": B.RES_READLINK}[kind]
            b.add(nr, B.RemapPaths(specs, res, buf, size))

    # ---- calls ---------------------------------------------------------------------------

    def syscall(self, call):
        plan = self._plans.get((call.arch, call.nr))
        if plan is None:
            return call.next()
        paths, result = plan
        for i, dfd, how in paths:
            err = self._map_arg(call, i, dfd, how)
            if err:
                return call.fail(err)
        if result is not None:
            call.on_exit(self._getcwd_exit if result[0] == "getcwd" else self._readlink_exit)
        return call.next()

    def _base(self, call, dfd: int) -> bytes | None:
        """The host directory a relative path argument is resolved from."""
        fd = AT_FDCWD if dfd < 0 else call.fd_arg(dfd)
        base = call.cwd() if fd == AT_FDCWD else call.fd_path(fd)
        return os.fsencode(base) if base is not None and base.startswith("/") else None

    def _map_arg(self, call, i: int, dfd: int, how) -> int:
        """Rewrite path argument i; an errno to fail the call with, or 0."""
        if call.args[i] == 0:
            return 0
        r = call.read_bytes(i, PATH_MAX)
        if r is None or not r[1] or not r[0]:
            return 0  # unreadable, too long or empty (AT_EMPTY_PATH): the kernel decides
        path = r[0]
        table = self.table
        if path.startswith(b"/"):
            start, base = b"/", b"/"
        else:
            base = self._base(call, dfd)
            if base is None:
                return 0
            start = table.to_guest(base)
        guest = normalize(_join(start, path))
        host, readonly = table.to_host(guest)
        if readonly and how is not None and _writes(call, how, host):
            return _errno.EROFS
        # the kernel resolves the unchanged argument on the host: leave it
        # when that is the same place ('..' only differs inside a moved bind)
        if b".." in path.split(b"/"):
            same = start == base and not table.walk_enters_bind(start, path)
        else:
            same = host == normalize(_join(base, path))
        if not same:
            call.set_arg(i, call.push(host + b"\0"))
        return 0

    def _getcwd_exit(self, call) -> None:
        n = call.retval
        if n is None or n <= 0:
            return
        raw = call.read(call.args[0], n)
        if raw is None:
            return
        host = raw.split(b"\0", 1)[0]
        guest = self.table.to_guest(host)
        if guest == host:
            return
        if len(guest) + 1 > call.args[1]:
            call.set_error(_errno.ERANGE)
            return
        call.write(call.args[0], guest + b"\0")
        call.set_return(len(guest) + 1)

    def _readlink_exit(self, call) -> None:
        n = call.retval
        buf, size = (1, 2) if call.name == "readlink" else (2, 3)
        if n is None or n <= 0:
            return
        text = call.read(call.args[buf], n)
        if not text or not text.startswith(b"/"):
            return
        guest = self.table.to_guest(text)
        if guest == text:
            return
        guest = guest[:call.args[size]]
        call.write(call.args[buf], guest)
        call.set_return(len(guest))
