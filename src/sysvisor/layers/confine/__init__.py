"""Confine: the program sees a virtual root plus bind mounts, and nothing else.

    view = Confine(root="/srv/rootfs", binds=[("/usr", "/usr", True), (src, "/src", False)],
                   cwd="/src")
    sysvisor.run(["/bin/sh", "-c", "make"], layers=[view], method="unotify")

An *enforcing* layer for the unotify method (it needs the "on_behalf"
capability: only unotify can hand the program file descriptors). Every
path-taking system call is executed on the program's behalf by the
supervisor, which reads each pointer argument once and acts itself (the
security model of docs/design.md): files are opened by a race-free walk of
the view (view.py) and handed over with NOTIF_ADDFD (`call.inject_fd`);
stat buffers, link texts, xattr values and the cwd are written into the
program's memory after the action. No path call is ever CONTINUEd, except
execve/execveat, which no supervisor can run for another process
(execs.py: the layer makes the kernel find exactly the checked files --
restarting the call with the view's files where the kernel would find
others -- then says so with `call.continue_exec`). The commonest calls are
answered in C by the same rules (fast.py).

Translated, for x86_64 and for i386 (int 0x80 from a 64-bit program, and
32-bit programs; structures as the kernel's compat layer writes them,
abi.py):
  open openat openat2 creat; stat lstat newfstatat statx statfs, i386
  stat64 lstat64 fstatat64 oldstat oldlstat statfs64; access faccessat
  faccessat2; readlink readlinkat; getcwd chdir fchdir; mkdir mkdirat
  mknod mknodat (no device nodes: EPERM); unlink unlinkat rmdir; rename
  renameat renameat2; link linkat symlink symlinkat; chmod fchmodat
  fchmodat2 chown lchown fchownat (i386 chown32 lchown32 and the 16-bit
  chown lchown); utimensat utime utimes futimesat (i386
  utimensat_time64); truncate (i386 truncate64); getxattr lgetxattr
  setxattr lsetxattr listxattr llistxattr removexattr lremovexattr and the
  *xattrat calls of 6.13; file_getattr file_setattr (6.17);
  inotify_add_watch; execve execveat (the ELF interpreter and #! scripts
  included: execs.py); connect bind sendto sendmsg sendmmsg and i386
  socketcall, for unix socket paths (sockets.py).
  fchmod fchown (i386 fchown32) fsetxattr fremovexattr: run on the
  program's fd so that read-only binds stay read-only.
Refused (layer.REFUSED): uselib (ENOSYS), quotactl (EPERM: names a block
device), fanotify_mark (EPERM; fanotify_init is in the bypass list).
Denied: the path-check bypasses of layers/bypass.py (mount family, chroot,
pivot_root, open_by_handle_at, io_uring, ptrace, process_vm_*, ...), and
unshare/setns/clone with CLONE_NEWNS or CLONE_NEWUSER (EPERM, decided in
the filter) and clone3 (ENOSYS: its flags are in memory; the libc falls
back to clone). Not paths, not confined: mq_open/mq_unlink (the mqueue
namespace), abstract unix sockets (they reach the host's; a Net
allow-list restricts them), fd-based calls (fds only come from the view).
Watched, then run as made: set*id, setgroups, setfs*id, capset and umask
(creds.py: afterwards every action takes the caller's credentials).

The view
--------
`root` is the host directory seen as "/", each bind (host, guest,
readonly) a host directory seen at `guest` (view.py explains the walk).
Guest directories that only lead to a bind are an empty read-only
directory. Binding /proc is refused.

/proc: /proc/self and /proc/thread-self (and nothing else of /proc) are the
calling process's /proc/PID (task/TID) directory, opened by the supervisor
and checked with NOTIF_ID_VALID (no pid reuse); its magic links (cwd, exe,
root, fd/N, map_files/...) are never followed by the kernel: a link to a
path is translated back into the view (the host path mapped to its guest
path, resolved again in the view, or ENOENT outside it; root is "/", cwd
the virtual cwd, exe the program even when the exec helper ran its loader),
anything else (pipe:[..], anon_inode:..) is ELOOP. /proc/self/mem cannot be
opened for writing (such an fd, passed to another process, could race an
exec; execs.py).

The cwd and the reserved fds
----------------------------
A process's cwd is per process and no interface changes another process's
cwd, so the program's *real* cwd is never used: the virtual cwd is an
O_RDONLY directory fd that the supervisor places at a reserved fd number
(`cwd_fd`: the fd limit, at most 1024, minus 1) in the program with
NOTIF_ADDFD(SETFD) on chdir/fchdir. It is inherited by fork and kept over
exec exactly like a cwd, and shared by threads that share the fd table.
Relative paths are resolved against the guest path of that directory (its
host path, from the fd, mapped back into the view; resolved again, so a
stale or forged fd never leads outside). Without the fd (never chdir'd, or
the program closed it) the cwd is the layer's initial `cwd`. The real cwd
is an empty read-only directory, set at spawn. Without Landlock, the number
below cwd_fd is taken for an instant during a redirected exec (execs.py).
A program that uses these numbers itself loses them.

O_PATH: NOTIF_ADDFD cannot hand over O_PATH files, so an O_PATH open gets
an O_RDONLY fd for a directory or regular file (read permission needed),
ENXIO for other kinds, and EOPNOTSUPP for a symlink with O_NOFOLLOW (what
glibc's fchmodat(AT_SYMLINK_NOFOLLOW), the common user, then reports).

Credentials: a root supervisor acting for a program whose credentials
changed takes them for each action (creds.py). Landlock: where the kernel
has it, a ruleset derived from the view (kernel/landlock.py for the rights
and ABIs) is applied in the child before exec (Layer.spawn_setup);
absent, the layer says so once on stderr and exec is allowed only when
nothing can race it (execs.py).
"""
from .layer import REFUSED, Confine


def confined(root: str, binds=(), ro_binds=(), cwd: str = "/", net: str | None = None,
             deny: str | None = None, allow: str | None = None, landlock: bool = True) -> list:
    """The layer stack of `sysvisor run --root ROOT --bind HOST:GUEST
    --ro-bind HOST:GUEST --cwd DIR [--net SPEC] [--deny RULES] [--allow
    RULES]`, top first: a Policy with the bypass list of layers/bypass.py
    first (denied under confinement) and the rules, a Net layer when `net`
    is given, and the Confine layer at the bottom (it executes the calls).

        layers = confined("./rootfs", binds=[(os.getcwd(), "/src")], cwd="/src", net="none")
        try:
            status = sysvisor.run(["/bin/sh", "-c", "make"], layers=layers)
        finally:
            layers[-1].release()

    binds and ro_binds are (host, guest) pairs."""
    from ..net import Net
    from ..policy import Policy, confinement_denials

    policy = Policy.from_spec(deny=deny, allow=allow)
    policy.rules[:0] = confinement_denials()
    layers = [policy]
    if net is not None:
        layers.append(Net.from_spec(net))
    binds = [(h, g, False) for h, g in binds] + [(h, g, True) for h, g in ro_binds]
    layers.append(Confine(root, binds, cwd=cwd, landlock=landlock))
    return layers


__all__ = ["Confine", "REFUSED", "confined"]
