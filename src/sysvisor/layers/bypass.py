"""The one list of syscalls that get around path-based confinement.

A confining stack decides about files by path: it reads the path a call
names, checks it against its view, and opens the file on the program's
behalf. Every call below reaches files, mounts, other processes' memory or
the kernel itself *without* a path the confinement can check, or changes
what a path means afterwards. `confinement_denials()` turns this list into
Policy rules that a confining stack puts first (`sysvisor run
--deny-bypass`).

Each entry says why. Entries are grouped by what they get around:

  FILTER    the call makes the kernel do work that never passes through
            the seccomp filter
  HANDLE    files named by handle or taken from elsewhere, not by path
  PROCESS   reaching into another process (the supervisor, a sibling, a
            process outside the sandbox of the same user)
  KERNEL    loading code into, or replacing, the kernel; raw hardware
  RACE      observation or stalling that turns any check into a race
  MOUNT     changing what paths resolve to (mount table, root)
  NAMESPACE constant-flag calls that make a new mount or user namespace
            (a user namespace gives the privileges to mount in it)
  DEVICE    device nodes reach a disk or memory under any name

Deliberately *not* listed (and why): `seccomp` (a program can only add
filters; a second listener filter fails with EBUSY, and RET_ERRNO/TRAP
from its own filter only make it more restricted); `listmount`,
`statmount` (read-only information); `kcmp`, `process_madvise`
(no data crosses); `inotify_*` (no fds to files are handed out);
`chdir`/`fchdir`, `symlink`, `link`, `rename` (path-based: the confinement
mediates them like any other path call); `kill`/`pidfd_send_signal`
(signals, not files: a pid namespace is the answer).

Unknown names (a table without the syscall, e.g. `iopl` off x86) are
skipped: each entry is used with strace's `?name` form.
"""
from __future__ import annotations

import errno as _errno
from dataclasses import dataclass

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
S_IFMT = 0o170000
S_IFCHR = 0o020000
S_IFBLK = 0o060000


@dataclass(frozen=True)
class Bypass:
    """One syscall (or one constant-argument case of it) that bypasses
    path checks. `flags`: (argument index, mask): only calls with any of
    the mask's bits set are denied (None: every call); `zero_too`: the
    value 0 is denied as well (setns: 0 means "any namespace type");
    `equals`: (argument index, mask, values): denied when arg & mask is
    one of the values (mknod of device nodes); `errno`: the error the
    denial returns (EPERM unless the libc needs another to fall back)."""

    name: str
    category: str
    reason: str
    flags: tuple[int, int] | None = None
    zero_too: bool = False
    equals: tuple[int, int, tuple[int, ...]] | None = None
    errno: int = _errno.EPERM


BYPASS_LIST: tuple[Bypass, ...] = (
    # FILTER: work done by the kernel on the program's behalf, unseen
    Bypass("io_uring_setup", "FILTER",
           "io_uring runs openat, connect, send... from a kernel queue: the filter never sees them"),
    Bypass("io_uring_enter", "FILTER", "submits io_uring work (see io_uring_setup)"),
    Bypass("io_uring_register", "FILTER", "registers files and buffers for io_uring (see io_uring_setup)"),
    # HANDLE: files without a path
    Bypass("open_by_handle_at", "HANDLE",
           "opens any file of a mounted filesystem by handle, whatever the view shows"),
    Bypass("name_to_handle_at", "HANDLE",
           "makes the handles open_by_handle_at takes (and leaks inode identities)"),
    Bypass("pidfd_getfd", "HANDLE",
           "copies a file descriptor out of another process, opened outside the view"),
    Bypass("fanotify_init", "HANDLE",
           "fanotify events carry open fds of files accessed anywhere on the mount"),
    Bypass("lookup_dcookie", "HANDLE", "turns kernel path cookies into paths outside the view"),
    # PROCESS: other processes
    Bypass("ptrace", "PROCESS",
           "controls another process (a sibling, or one outside the sandbox): makes it open or run anything"),
    Bypass("process_vm_readv", "PROCESS", "reads another process's memory (its secrets, its buffers)"),
    Bypass("process_vm_writev", "PROCESS",
           "writes another process's memory: changes what it opens, or swaps arguments under a check"),
    # KERNEL: code in the kernel, hardware
    Bypass("bpf", "KERNEL", "loads programs and maps into the kernel (tracing, sockets, cgroups)"),
    Bypass("perf_event_open", "KERNEL", "kprobes/uprobes and samples of other code, kernel included"),
    Bypass("kexec_load", "KERNEL", "replaces the running kernel"),
    Bypass("kexec_file_load", "KERNEL", "replaces the running kernel (from a file the kernel opens)"),
    Bypass("init_module", "KERNEL", "loads kernel code"),
    Bypass("finit_module", "KERNEL", "loads kernel code from a file descriptor"),
    Bypass("delete_module", "KERNEL", "unloads kernel code (e.g. the LSM or filesystem in use)"),
    Bypass("iopl", "KERNEL", "raw I/O port access: disks and devices without any file"),
    Bypass("ioperm", "KERNEL", "raw I/O port access (see iopl)"),
    Bypass("swapon", "KERNEL", "the kernel writes memory pages to a file or device it opens itself"),
    Bypass("swapoff", "KERNEL", "see swapon"),
    Bypass("acct", "KERNEL", "the kernel opens and appends to the named file itself, unmediated"),
    # RACE: stalls and observation
    Bypass("userfaultfd", "RACE",
           "stalls the kernel inside a copy from the program's memory: widens every check-then-use race"),
    # MOUNT: what paths mean
    Bypass("mount", "MOUNT", "bind mounts and new filesystems change what a path resolves to"),
    Bypass("umount", "MOUNT", "uncovers what a mount hid (i386)"),
    Bypass("umount2", "MOUNT", "uncovers what a mount hid"),
    Bypass("move_mount", "MOUNT", "attaches a mount tree anywhere (new mount API)"),
    Bypass("open_tree", "MOUNT", "clones a mount tree into a detached mount (an fd to a whole tree)"),
    Bypass("open_tree_attr", "MOUNT", "open_tree with mount attributes (6.15)"),
    Bypass("fsopen", "MOUNT", "creates a filesystem context (new mount API)"),
    Bypass("fsconfig", "MOUNT", "configures a filesystem context (new mount API)"),
    Bypass("fsmount", "MOUNT", "turns a filesystem context into a mount (new mount API)"),
    Bypass("fspick", "MOUNT", "reconfigures an existing mount (new mount API)"),
    Bypass("mount_setattr", "MOUNT", "changes mount attributes (idmapping, read-only, propagation)"),
    Bypass("pivot_root", "MOUNT", "changes the root of the mount namespace"),
    Bypass("chroot", "MOUNT", "changes the process root: relative and absolute paths mean other files"),
    # NAMESPACE: constant flags decide, in the filter
    Bypass("unshare", "NAMESPACE", "a new mount namespace (or a user namespace, to mount in) remaps paths",
           flags=(0, CLONE_NEWNS | CLONE_NEWUSER)),
    Bypass("clone", "NAMESPACE", "a child in a new mount or user namespace (as unshare)",
           flags=(0, CLONE_NEWNS | CLONE_NEWUSER)),
    Bypass("setns", "NAMESPACE",
           "joins a mount or user namespace; nstype 0 means whatever namespace the fd is",
           flags=(1, CLONE_NEWNS | CLONE_NEWUSER), zero_too=True),
    Bypass("clone3", "NAMESPACE",
           "its flags are in memory, so they cannot be checked race-free: ENOSYS, and the libc "
           "falls back to clone(), whose flags the filter checks", errno=_errno.ENOSYS),
    # DEVICE: device nodes
    Bypass("mknod", "DEVICE", "a block or character device node opens a disk (or /dev/mem) by any name",
           equals=(1, S_IFMT, (S_IFCHR, S_IFBLK))),
    Bypass("mknodat", "DEVICE", "see mknod", equals=(2, S_IFMT, (S_IFCHR, S_IFBLK))),
)

# name -> reason, for the unconditional entries denied with EPERM; name
# -> (index, mask, reason) for the constant-flag ones; name -> errno for
# the unconditional ones that need another errno (clone3: ENOSYS, so the
# libc falls back to clone; EPERM would make pthread_create fail).
BYPASS: dict[str, str] = {b.name: b.reason for b in BYPASS_LIST
                          if b.flags is None and b.equals is None and b.errno == _errno.EPERM}
BYPASS_ERRNO: dict[str, int] = {b.name: b.errno for b in BYPASS_LIST
                                if b.flags is None and b.equals is None and b.errno != _errno.EPERM}
BYPASS_FLAGS: dict[str, tuple[int, int, str]] = {b.name: (b.flags[0], b.flags[1], b.reason)
                                                 for b in BYPASS_LIST if b.flags is not None}


def describe() -> str:
    """The list as text: category, name, reason (for `--help` and docs)."""
    lines = []
    for b in BYPASS_LIST:
        cond = ""
        if b.flags is not None:
            cond = f" (arg{b.flags[0]} & {b.flags[1]:#x}{' or == 0' if b.zero_too else ''})"
        elif b.equals is not None:
            cond = f" (arg{b.equals[0]} & {b.equals[1]:#o} in {', '.join(oct(v) for v in b.equals[2])})"
        lines.append(f"{b.category:<9} {b.name}{cond}: {b.reason}")
    return "\n".join(lines)


def confinement_denials(err: int = _errno.EPERM) -> list:
    """Policy rules denying every entry of BYPASS_LIST (with `err`, except
    where an entry needs another errno for the libc to fall back). The
    constant-argument ones (unshare, clone, setns, mknod) are decided in
    the seccomp filter: calls without the flags never stop."""
    from ..layer import arg
    from .policy import Rule

    plain: dict[int, list[str]] = {}
    rules = []
    for b in BYPASS_LIST:
        e = err if b.errno == _errno.EPERM else b.errno
        if b.flags is not None:
            index, mask = b.flags
            bit = 1
            while bit <= mask:  # any of the bits: one alternative per bit
                if mask & bit:
                    rules.append(Rule("deny", "?" + b.name, when=(arg(index, bits=32) & bit == bit,), errno=e))
                bit <<= 1
            if b.zero_too:
                rules.append(Rule("deny", "?" + b.name, when=(arg(index, bits=32) == 0,), errno=e))
        elif b.equals is not None:
            index, mask, values = b.equals
            for v in values:
                rules.append(Rule("deny", "?" + b.name, when=(arg(index, bits=32) & mask == v,), errno=e))
        else:
            plain.setdefault(e, []).append("?" + b.name)
    for e, names in plain.items():
        rules.insert(0, Rule("deny", ",".join(names), errno=e))
    return rules
