"""The Confine layer: set-up, the plumbing every handler shares, execve,
and the calls that are refused. The handlers of the path calls are in
files.py (names, opens, stats), attrs.py (metadata) and sockets.py."""
from __future__ import annotations

import errno
import os
import resource
import stat as _stat
import sys
import threading

from ... import _native
from ... import spawn as _spawn
from ...errors import SpawnError, UsageError
from ...kernel import landlock as _landlock
from ...kernel.unotify import ADDFD_FLAG_SETFD
from ...layer import Layer, arg
from ..bypass import BYPASS, BYPASS_ERRNO, BYPASS_FLAGS, CLONE_NEWNS, CLONE_NEWUSER
from .abi import LAYOUTS
from .attrs import Attrs
from .creds import CRED_CALLS, UMASK_CALLS, Creds
from .execs import Execs, Step
from .files import Files
from .sockets import Sockets
from .view import Fail, View, join, norm_guest, split
from .view import Found as _Found

PATH_MAX = 4096
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000

# Path calls that are refused, not translated, with the errno and why
# (the module docstring lists them too). Everything else that takes a
# path is translated; the bypass list (layers/bypass.py) is denied.
REFUSED = {
    "uselib": (errno.ENOSYS, "a.out libraries (the kernel has no a.out support)"),
    "quotactl": (errno.EPERM, "names a block device, which is never in the view"),
    "fanotify_mark": (errno.EPERM, "fanotify_init is denied (bypass list)"),
}


class _Proc:
    """/proc/self of the calling process, for the walk (see the docstring)."""

    __slots__ = ("layer", "call")

    def __init__(self, layer, call):
        self.layer, self.call = layer, call

    def open_dir(self, fds, thread: bool) -> int:
        call = self.call
        p = f"/proc/{call.pid}/task/{call.tid}" if thread else f"/proc/{call.pid}"
        fd = os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        fds.append(fd)
        if not self.layer.valid(call):  # the caller is gone: the pid may be someone else's
            raise Fail(errno.ESRCH)
        return fd

    def link(self, cur, name: str, text: str) -> str:
        """A magic link of /proc/PID, as a guest path."""
        layer = self.layer
        if name == "root":
            return "/"
        if name == "cwd":
            return layer.cwd_guest(self.call)
        if name == "exe":
            prog = layer.execs.program_of(self.call.pid, text)
            if prog is not None:
                return prog
        if text.startswith("/"):
            g = layer.view.guest_of_host(text)
            if g is None:
                raise Fail(errno.ENOENT)  # outside the view
            return g
        raise Fail(errno.ELOOP)  # pipe:[..], socket:[..], anon_inode:...


class Confine(Files, Attrs, Sockets, Layer):
    """Confinement view: root + binds + virtual cwd, enforced on unotify.

    root:  host directory shown as "/" (must exist).
    binds: [(host_dir, guest_path, readonly)] (or (host, guest)); the
           longest guest path wins; "/proc" cannot be bound (built-in
           /proc/self instead).
    cwd:   the program's initial (guest) working directory.
    root_readonly: the root itself is read-only.
    landlock: apply the Landlock backstop where the kernel has it.
    fast: answer the commonest calls in C on unotify (fast.py).
    """

    enforcing = True
    blocking = True  # opens may block (FIFOs), connects too: handlers run concurrently
    needs = frozenset({"on_behalf"})

    def __init__(self, root: str, binds=(), cwd: str = "/", root_readonly: bool = False,
                 landlock: bool = True, fast: bool = True):
        binds = [(b[0], b[1], bool(b[2]) if len(b) > 2 else False) for b in binds]
        for host, guest, _ro in binds:
            g = norm_guest(guest)
            if g == "/proc" or g.startswith("/proc/"):
                raise UsageError("Confine: /proc cannot be bound (the supervisor would open other "
                                 "processes' /proc files with its own credentials); /proc/self is "
                                 "built in")
        for what, path in [("root", root)] + [("bind source", b[0]) for b in binds]:
            if not os.path.isdir(path):
                raise UsageError(f"Confine: {what} {path}: "
                                 f"{'not a directory' if os.path.exists(path) else 'no such directory'}")
        self.view = View(root, binds, root_readonly)
        self.root = self.view.root
        self.mounts = self.view.mounts
        self.cwd = norm_guest(cwd)
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        top = min(soft, 1024)
        # reserved fd numbers in the program (see the docstring)
        self.cwd_fd = top - 1
        self.execs = Execs(self, slot=top - 2)
        self.creds = Creds()
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self.landlock_wanted = landlock
        self.landlock_abi = _landlock.abi_version() if landlock else 0
        self.landlock_active = False
        self.ruleset = None
        if landlock and self.landlock_abi >= 1:
            rules = [(m.fd, m.readonly, f"{m.host} on {m.guest}") for m in self.mounts.values()]
            self.ruleset = _landlock.Ruleset.build(rules)
        self._landlock_action = None if self.ruleset is None else _spawn.Landlock(self.ruleset.fd)
        self.fast = fast
        self.fast_listener = -1  # set by the engine when it installed the fast path
        self._writable_mounts = any(not m.readonly for m in self.mounts.values())
        Sockets.__init__(self)

    def __repr__(self) -> str:
        return f"Confine(root={self.root.host!r}, binds={list(self.mounts.values())[1:]!r})"

    def release(self) -> None:
        """Close the view's fds and the ruleset (the layer is unusable after)."""
        self.view.release()
        if self.ruleset is not None:
            self.ruleset.close()
            self.ruleset = None

    # ---- session hooks -------------------------------------------------------

    def interests(self, table):
        """Every %file syscall, the calls of files.py/attrs.py/sockets.py,
        the path-check bypasses (layers/bypass.py) and the credential and
        umask calls (watched, then run as made: creds.py)."""
        names = {sc.name for sc in table if "file" in sc.classes}
        names |= self._handled_names() | set(BYPASS) | set(BYPASS_ERRNO)
        names |= set(CRED_CALLS) | set(UMASK_CALLS)
        out = {table.by_name[n].nr: None for n in names if n in table.by_name}
        for name, (index, mask, _why) in BYPASS_FLAGS.items():  # only the namespace flags stop
            sc = table.by_name.get(name)
            if sc is not None:
                alts = [(arg(index, bits=32) & bit == bit,) for bit in (CLONE_NEWNS, CLONE_NEWUSER)
                        if mask & bit]
                if name == "setns":
                    alts.append((arg(index, bits=32) == 0,))
                out[sc.nr] = alts
        for name, alts in self._socket_interests().items():
            sc = table.by_name.get(name)
            if sc is not None:
                out[sc.nr] = alts
        return out

    def _handled_names(self) -> set[str]:
        return {n for n in dir(type(self)) if not n.startswith("_") and callable(getattr(self, n))}

    def spawn_setup(self, argv, env):
        """Landlock, an empty real cwd (the program's cwd is virtual), and
        the command resolved in the view (sysvisor.spawn)."""
        actions = [_spawn.Chdir(self.view.empty_dir),
                   _spawn.Executable(self.resolve_command(argv, env))]
        if self._landlock_action is not None:
            actions.insert(0, self._landlock_action)
        return actions

    def resolve_command(self, argv, env) -> str:
        """argv[0] in the view: a path as given, or looked up in env's PATH."""
        if not argv:
            raise SpawnError("no command given")
        name = argv[0]
        fds: list[int] = []
        try:
            if "/" in name:
                f = self.view.walk(fds, name, self.cwd)
                if f.fd < 0:
                    raise SpawnError(f"Can't stat '{name}': No such file or directory (in the view)")
                if _stat.S_ISDIR(f.st.st_mode):
                    raise SpawnError(f"Can't exec '{name}': Is a directory")
                return name
            for d in ((env or {}).get("PATH") or os.defpath).split(":"):
                cand = join(d or ".", name) if d.startswith("/") else (d or ".") + "/" + name
                try:
                    f = self.view.walk(fds, cand, self.cwd)
                except (Fail, OSError):
                    continue
                if f.fd >= 0 and _stat.S_ISREG(f.st.st_mode) and \
                        os.access(f"/proc/self/fd/{f.fd}", os.X_OK, effective_ids=True):
                    return cand
            raise SpawnError(f"{name}: command not found (in the view)")
        except (Fail, OSError) as e:
            err = e.err if isinstance(e, Fail) else (e.errno or errno.ENOENT)
            raise SpawnError(f"{name}: {os.strerror(err)} (in the view)") from None
        finally:
            for fd in fds:
                os.close(fd)

    def is_dir(self, guest: str) -> bool:
        """Is guest a directory of the view (seen as the supervisor)?"""
        fds: list[int] = []
        try:
            f = self.view.walk(fds, guest, "/")
            return f.fd >= 0 and _stat.S_ISDIR(f.st.st_mode)
        except (Fail, OSError):
            return False
        finally:
            for fd in fds:
                os.close(fd)

    def on_start(self, session) -> None:
        # the program's real cwd is in it by now, and the view keeps an fd:
        # remove it at once, so that a SIGKILLed supervisor leaves nothing
        # behind (lookups in a deleted directory find nothing, as wanted)
        self.view.remove_empty_dir()
        self.landlock_active = self._landlock_action is not None and \
            self._landlock_action in session.spawn_actions
        self._find_net(session)
        if self.landlock_active and self.fast_listener >= 0:
            # the C fast path may decide fresh execs too (fast.py): their
            # security argument is the restarted call's re-check and Landlock
            _native.fast_exec_fresh(self.fast_listener, 1)
        if self.ruleset is None:
            why = ("disabled (landlock=False)" if not self.landlock_wanted
                   else f"not available here (ABI {self.landlock_abi})")
            self.say("landlock", f"sysvisor: confine: Landlock is {why}: running without the "
                     "kernel-enforced backstop; exec is allowed only when nothing can race it")
        elif not self.landlock_active:
            self.say("landlock", "sysvisor: confine: the Landlock ruleset was not applied to the "
                     "program: running without the backstop")

    def say(self, key: str, msg: str) -> None:
        """Tell the user once per key (stderr)."""
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        sys.stderr.write(msg + "\n")

    # ---- plumbing ---------------------------------------------------------------

    def _do(self, call, fn, *args):
        """Run fn(call, fds, *args) as the program (creds.py); OSError and
        Fail become the call's errno. fds: fds to close afterwards."""
        if call.audit not in LAYOUTS:
            return call.fail(errno.ENOSYS)
        fds: list[int] = []
        switched = None
        try:
            switched = self.creds.become(call.tid)
            return fn(call, fds, *args)
        except Fail as e:
            return call.fail(e.err)
        except OSError as e:
            return call.fail(e.errno or errno.EIO)
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if switched is not None:
                self.creds.restore()

    @staticmethod
    def layout(call):
        return LAYOUTS[call.audit]

    def path(self, call, index: int) -> str:
        """Path argument `index`, read once."""
        if call.args[index] == 0:
            raise Fail(errno.EFAULT)
        r = call.read_bytes(index, PATH_MAX)
        if r is None:
            raise Fail(errno.EFAULT)
        data, complete = r
        if not complete:
            raise Fail(errno.ENAMETOOLONG)
        return os.fsdecode(data)

    def valid(self, call) -> bool:
        n = call._mem
        try:
            return _native.notif_id_valid(n.fd, n.id)
        except OSError:
            return False

    def addfd_at(self, call, fd: int, target: int) -> None:
        """Place a copy of fd at `target` in the program (NOTIF_ADDFD SETFD,
        not CLOEXEC), without answering the call."""
        n = call._mem
        _native.notif_addfd(n.fd, n.id, fd, target, 0, ADDFD_FLAG_SETFD)

    def umask_of(self, call) -> int:
        return self.creds.umask_of(call.tid)

    def fixmode(self, call, fd: int, mode: int, umask: int) -> None:
        """The kernel applied the supervisor's umask; give the file exactly
        mode & ~umask (only ever widening what was created)."""
        want = mode & ~umask & 0o7777
        if want & self.creds.umask:
            os.chmod(f"/proc/self/fd/{fd}", want)

    # ---- host <-> guest, the cwd ----------------------------------------------------

    def guest_of_host(self, host: str) -> str | None:
        return self.view.guest_of_host(host)

    def cwd_guest(self, call) -> str:
        """The virtual cwd: the guest path of the fd at cwd_fd (see the
        docstring), or the initial cwd."""
        try:
            fd = call.pidfd_getfd(self.cwd_fd)
        except OSError:
            return self.cwd
        try:
            if not _stat.S_ISDIR(os.fstat(fd).st_mode):
                return self.cwd
            g = self.view.fd_guest(fd)
            return g if g is not None else self.cwd
        finally:
            os.close(fd)

    def base(self, call, dirfd: int) -> str:
        """The guest directory a relative path starts from."""
        if dirfd == AT_FDCWD:
            return self.cwd_guest(call)
        try:
            fd = call.pidfd_getfd(dirfd)
        except OSError:
            raise Fail(errno.EBADF) from None
        try:
            if not _stat.S_ISDIR(os.fstat(fd).st_mode):
                raise Fail(errno.ENOTDIR)
            g = self.view.fd_guest(fd)
        finally:
            os.close(fd)
        if g is None:
            raise Fail(errno.ENOENT)  # a directory outside the view
        return g

    def lookup(self, call, fds, path: str, dirfd: int = AT_FDCWD, follow: bool = True):
        """walk() for callers that need the object, not its parent entry
        (found.parent and found.name are None on the fast path)."""
        if follow and path[:1] == "/":
            fast = self.view.fast_path(path, os.O_PATH)
            if fast is not None:
                fd, m, guest = fast
                fds.append(fd)
                return _Found(None, None, fd, os.fstat(fd), m, guest)
        return self.walk(call, fds, path, dirfd, follow)

    def walk(self, call, fds, path: str, dirfd: int = AT_FDCWD, follow: bool = True,
             resolve: int = 0):
        """Resolve a guest path of this call in the view (view.py)."""
        needs_base = not path.startswith("/") or resolve & 0x18  # RESOLVE_BENEATH | IN_ROOT
        base = self.base(call, dirfd) if needs_base else "/"
        return self.view.walk(fds, path, base, follow, resolve, _Proc(self, call))

    # ---- execve ------------------------------------------------------------------------

    def execve(self, call):
        return self._do(call, self._exec, AT_FDCWD, 0, 0)

    def execveat(self, call):
        return self._do(call, self._exec, call.fd_arg(0), 1, call.args[4] & 0xFFFFFFFF)

    def _exec(self, call, fds, dirfd, pidx, flags):
        """execs.py: check the chain in the view, then run it natively or
        have the call restarted with the view's files."""
        if flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW):
            raise Fail(errno.EINVAL)
        execs = self.execs
        argv_idx = pidx + 1
        if call.tid in execs.pending:
            p = execs.restarted(call, pidx)
            if p is not None:  # our own restart: the kernel finds the checked file
                why = self._race_why(call, [], p.addr, len(p.path) + 1)
                return call.continue_exec(f"restarted with the view's files; {why}")
        by_fd = bool(flags & AT_EMPTY_PATH) and (call.args[pidx] == 0 or
                                                  call.read(call.args[pidx], 1) == b"\0")
        if by_fd:
            vfd = self.fetch(call, fds, dirfd)
            guest = self.view.fd_guest(vfd)
            if guest is None and not os.readlink(f"/proc/self/fd/{vfd}").startswith("/memfd:"):
                raise Fail(errno.EACCES)  # an fd from outside the view
            main = execs.step(fds, vfd, guest or f"/dev/fd/{dirfd}", self.view.mount_of_fd(vfd), None)
            given, path_addr, path_len = main.guest, 0, 0
        else:
            path = self.path(call, pidx)
            f = self.lookup(call, fds, path, dirfd, follow=not flags & AT_SYMLINK_NOFOLLOW)
            if f.fd < 0:
                raise Fail(errno.ENOENT)
            if _stat.S_ISLNK(f.st.st_mode):
                raise Fail(errno.ELOOP)
            own_lookup = dirfd == AT_FDCWD or path.startswith("/")
            # by_path "": under a dirfd, a lookup never compared with ours
            main = execs.step(fds, f.fd, f.guest, f.mount, path if own_lookup else "")
            given = path if own_lookup else join(self.base(call, dirfd), path)
            path_addr, path_len = call.args[pidx], len(os.fsencode(path)) + 1
        # without Landlock, a lookup by the kernel through a writable mount
        # could be raced (a swapped symlink): give it the file by fd instead
        native_ok = self.landlock_active or not self._writable_mounts
        plan = execs.plan(call, fds, main, given, native_ok)
        if plan.way == "native":
            why = self._race_why(call, plan.by_path, path_addr, path_len)
            return call.continue_exec(f"the kernel finds the very files checked in the view; {why}")
        if main.mount is None:
            self.say("exec-memfd", "sysvisor: confine: exec of a file descriptor from outside the "
                     "view (a memfd) refused (EACCES): it needs an interpreter of the view")
            raise Fail(errno.EACCES)
        execs.restart(call, plan, argv_idx, use_slot=not self.landlock_active)

    def _race_why(self, call, by_path, path_addr: int, path_len: int) -> str:
        """Why letting this exec run is safe, or Fail(EPERM) when it is not."""
        if self.landlock_active:
            return "Landlock allows executing nothing outside the view"
        racy = self.execs.race_free(call, by_path, path_addr, path_len)
        if racy is not None:
            self.say("race:" + racy, "sysvisor: confine: exec refused (EPERM): without Landlock "
                     f"an exec can only run when nothing can race it, and {racy}")
            raise Fail(errno.EPERM)
        if not self.valid(call):
            raise Fail(errno.ESRCH)
        return "nothing can race it (one thread, private memory, read-only or fd-given files)"

    # ---- namespaces, credentials, everything else ---------------------------------------

    def unshare(self, call):
        return call.fail(errno.EPERM)  # only CLONE_NEWNS/CLONE_NEWUSER stop (the filter)

    def setns(self, call):
        return call.fail(errno.EPERM)

    def clone(self, call):
        return call.fail(errno.EPERM)

    def clone3(self, call):
        return call.fail(BYPASS_ERRNO.get("clone3", errno.ENOSYS))

    def unotify_fast_path(self, table):
        """For the unotify engine: (config, {syscall name: kind}) of the C
        fast path (fast.py), or None."""
        from . import fast

        if not self.fast or table.arch != "x86_64" or (self.creds.privileged and
                                                       self.creds.creds_changed):
            return None
        return fast.config(self.view), dict(fast.KINDS)

    def _cred_changed(self, call):
        """A credential call: from now on each action reads the caller's
        (and the C fast path, which acts as the supervisor, stops)."""
        self.creds.creds_changed = True
        if self.creds.privileged and self.fast_listener >= 0:
            _native.fast_enable(self.fast_listener, 0)
        return call.next()

    def _umask_changed(self, call):
        self.creds.umask_changed = True
        return call.next()

    def syscall(self, call):
        """The credential and umask calls (watched, then run), path calls
        that are refused, and the path-check bypasses."""
        name = call.name
        if name in CRED_CALLS:
            return self._cred_changed(call)
        if name in UMASK_CALLS:
            return self._umask_changed(call)
        if name in REFUSED:
            return call.fail(REFUSED[name][0])
        return call.fail(BYPASS_ERRNO.get(name, errno.EPERM))


__all__ = ["Confine", "REFUSED", "Step", "split"]
