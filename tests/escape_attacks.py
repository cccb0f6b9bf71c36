"""The escape battery's data: every attack, and what it does per method.

tests/test_escape.py runs each attack (a small C program in tests/progs/,
escape_*.c) unconfined - the positive control, which must escape - and
under each method with the confinement stack, and asserts the outcome
written here; `python tools/escape_table.py` prints the table for
README.md and docs/design.md. Pure data and formatting: no pytest here.

Outcomes:
  blocked  every attempt failed (or the program died), on every run
  escapes  at least one attempt reached the secret
  may      a race: it may escape or not on a given run; not asserted
           either way (the harmless half of the race must have worked)
  n/a      the method does not intervene: the outcome is the kernel's,
           the same as the unconfined control's

The stacks (see STACKS): on unotify, Policy(confinement_denials()) above
Confine(root, binds) (+ Net for the unix socket attacks), with the Landlock
backstop and without it; on seccomp and ptrace, which cannot execute calls
on the program's behalf, a check-then-continue path policy (see NOTES).
"""
from __future__ import annotations

from dataclasses import dataclass

BLOCKED, ESCAPES, MAY, NA = "blocked", "escapes", "may", "n/a"
OUTCOMES = (BLOCKED, ESCAPES, MAY, NA)
METHODS = ("unotify", "unotify-nolandlock", "seccomp", "ptrace")

STACKS = {
    "unotify": "Policy(confinement_denials()) + Confine(root, binds) with Landlock "
               "(+ Net(allow=unix:<view>/*) for the unix socket attacks)",
    "unotify-nolandlock": "the same, Confine(landlock=False): the supervisor's walk alone",
    "seccomp": "Policy(confinement_denials() + deny %file whose path is under the secret's "
               "directory), insecure=True: checked at the stop, then continued",
    "ptrace": "the same Policy on the ptrace method",
}

NOTES = [
    "Confine executes every path call on the program's behalf (openat2 walk in the supervisor, "
    "the fd handed over with NOTIF_ADDFD): that needs unotify. seccomp and ptrace can only "
    "check a call and let it continue, so their rows show what a check-then-continue path "
    "policy gives: sysvisor's own Policy with a deny rule on the secret's directory (paths made "
    "absolute and normalised, symlinks and /proc magic links not resolved), plus the same "
    "bypass denials. A checker that resolved symlinks would turn some `escapes` into `may` "
    "(the swap and TOCTOU races remain): only executing the call itself closes them.",
    "Denials decided on constant arguments (the bypass list: io_uring, handles, ptrace, "
    "process_vm_*, mount family, chroot, pivot_root, unshare/clone namespace flags) hold on "
    "every method: the call never runs.",
    "x32: the kernel here has no x32 ABI, so an x32 call fails with ENOSYS whoever handles it. "
    "The filter sends x32 numbers to the supervisor on every method, and an enforcing stack "
    "that has no handler for them fails them with ENOSYS on unotify, seccomp and ptrace alike "
    "(the test counts the notifications on unotify).",
    "Killing the supervisor: on unotify the program's first process dies (PR_SET_PDEATHSIG) "
    "and its other processes find every intercepted call failing with ENOSYS; on seccomp and "
    "ptrace every tracee is killed (PTRACE_O_EXITKILL).",
]


@dataclass(frozen=True)
class Attack:
    """One attack. `argv`: the program's arguments, with {placeholders} from
    the test's world (see test_escape.World); `what`: one line for the
    table; `outcome`: method -> expected outcome; `needs`: what the
    environment must offer (else the test skips, saying why); `race`: the
    program prints BENIGN <n>, which must be > 0 on the methods not in
    `no_benign`; `errno`: the errno every BLOCKED line shows on unotify
    when it is part of the contract (EPERM from the bypass denials, ENOSYS
    for x32), not how a view happens to answer; `kind`: how the test runs
    it ("plain", or "kill": the supervisor dies); `net`: the unotify stack
    includes Net (the unix socket attacks); `note`: a footnote for the
    table; `control`: what the unconfined run must show ("x32": whatever
    this kernel's x32 ABI gives); `bugs`: (method, why) pairs where it
    escapes although it must not - an open bug, run as an
    xfail(strict=True) that the fix turns into a failure to remove."""

    name: str
    prog: str
    argv: tuple[str, ...]
    what: str
    outcome: dict[str, str]
    needs: tuple[str, ...] = ()
    race: bool = False
    no_benign: tuple[str, ...] = ()
    errno: str | None = None
    kind: str = "plain"
    net: bool = False
    note: str = ""
    control: str = ESCAPES
    bugs: tuple[tuple[str, str], ...] = ()

    def expected(self, method: str) -> str:
        return self.outcome[method]


def _a(name, prog, argv, what, u=BLOCKED, s=BLOCKED, p=BLOCKED, nl=None, **kw) -> Attack:
    out = {"unotify": u, "unotify-nolandlock": u if nl is None else nl, "seccomp": s, "ptrace": p}
    return Attack(name, prog, tuple(argv.split()), what, out, **kw)


B, E, M = BLOCKED, ESCAPES, MAY
NET_NOTE = ("blocked on unotify with and without Net: Confine resolves unix socket paths in "
            "the view and executes connect/bind/sendto on the program's behalf; abstract names "
            "are outside every view (EACCES unless a Net allow-list names them)")

ATTACKS: tuple[Attack, ...] = (
    # ---- paths ----------------------------------------------------------------------
    _a("dotdot", "escape_path", "dotdot {secret} {marker}",
       "`..` traversal: from the cwd, from /, from a dirfd, after chdir(../..)"),
    _a("symlink", "escape_path", "symlink {secret} {marker}",
       "absolute, relative and directory symlinks made inside; a hard link through one",
       s=E, p=E),
    _a("symlink_swap", "escape_path", "symlink_swap {secret} {marker}",
       "a thread swaps a symlink between a file inside and the secret during open (600 opens)",
       s=E, p=E, race=True),
    _a("path_toctou", "escape_path", "path_toctou {secret} {marker}",
       "a thread rewrites the path buffer during open/openat (TOCTOU, 2×600 calls)",
       s=M, p=M, race=True),
    _a("proc_root", "escape_path", "proc_root {secret} {marker}",
       "/proc/self/root, /proc/thread-self/root, /proc/PID/root, an fd of /proc/self/root",
       s=E, p=E),
    _a("proc_fd", "escape_path", "proc_fd {secret} {marker}",
       "/proc/self/fd/N/../.., /proc/self/cwd/../.., an fd of /proc/self/fd",
       s=E, p=E),
    # ---- foreign ABIs -------------------------------------------------------------------
    _a("int80", "escape_abi", "int80 {secret} {marker}",
       "open, openat, creat through int 0x80 (the i386 ABI) from a 64-bit process",
       needs=("x86_64",)),
    _a("x32", "escape_abi", "x32 {secret} {marker}",
       "openat and open(O_CREAT) with the x32 bit (nr | 0x40000000)",
       s=NA, p=NA, needs=("x86_64",), errno="ENOSYS", control="x32"),
    # ---- calls that bypass path checks ---------------------------------------------------
    _a("io_uring", "escape_iouring", "{secret} {marker}",
       "IORING_OP_OPENAT of the secret and the marker (raw io_uring: rings mapped by hand)",
       needs=("io_uring",), errno="EPERM"),
    _a("open_by_handle_at", "escape_handle", "open {handle}",
       "open_by_handle_at with a handle of the secret obtained outside", needs=("root",),
       errno="EPERM"),
    _a("fd_passing", "escape_fdpass", "recv {sock} {secret_name} {marker_name}",
       "a process outside passes O_PATH and directory fds of the secret's directory over a "
       "unix socket: openat(fd, NAME), fchdir(fd), /proc/self/fd/N/NAME, linkat/renameat",
       s=E, p=E, net=True),
    _a("unix_connect", "escape_fdpass", "connect {outside_sock}",
       "connect to a unix socket outside the view by its host path", s=E, p=E, net=True,
       note=NET_NOTE),
    _a("unix_bind", "escape_fdpass", "bind {marker}",
       "bind a unix socket at a path outside the view (the kernel creates the file)", s=E, p=E,
       net=True),
    _a("abstract_unix", "escape_fdpass", "abstract {abstract}",
       "connect to an abstract unix socket of a process outside", s=E, p=E, net=True),
    _a("ptrace_supervisor", "escape_ptrace", "supervisor",
       "PTRACE_SEIZE, process_vm_readv/writev and pidfd_getfd (its listener) of the supervisor",
       needs=("ptrace",), errno="EPERM",
       note="the write puts back the bytes just read (at a read-only address unconfined: "
            "EFAULT); the attack on a process outside shows that writes work"),
    _a("ptrace_outside", "escape_ptrace", "sibling {victim_pid} {victim_addr}",
       "PTRACE_ATTACH, process_vm_readv/writev, pidfd_getfd of a process outside",
       needs=("ptrace",), errno="EPERM"),
    # ---- the mount table and the root ------------------------------------------------------
    _a("mount_bind", "escape_mount", "bind {outside} {secret_name}",
       "unshare(CLONE_NEWNS) (+ CLONE_NEWUSER as a user), bind-mount the secret's directory in",
       needs=("userns",), errno="EPERM"),
    _a("userns_mount", "escape_mount", "userns {outside} {secret_name}",
       "unshare(CLONE_NEWUSER|CLONE_NEWNS), then the bind mount", needs=("userns",),
       errno="EPERM"),
    _a("clone_ns", "escape_mount", "clone_ns {outside} {secret_name}",
       "clone(CLONE_NEWUSER|CLONE_NEWNS), the bind mount in the child", needs=("userns",),
       errno="EPERM"),
    _a("chroot", "escape_mount", "chroot {outside} {secret_name}",
       "the classic chroot escape: chroot(jail) with the cwd outside, chdir(..)*, chroot(.)",
       needs=("userns",), errno="EPERM"),
    _a("pivot_root", "escape_mount", "pivot_root {outside} {secret_name}",
       "pivot_root into a bind mount of the secret's directory", needs=("userns",),
       errno="EPERM"),
    _a("open_tree", "escape_mount", "open_tree {outside} {secret_name}",
       "open_tree(OPEN_TREE_CLONE) of the secret's directory, openat on the detached tree",
       needs=("userns",), errno="EPERM"),
    # ---- exec ----------------------------------------------------------------------------
    _a("exec_outside", "escape_exec", "outside {payload} {secret} {marker}",
       "execve of a binary outside the view"),
    _a("exec_symlink", "escape_exec", "symlink {payload} {secret} {marker}",
       "execve of a symlink (made inside) to a binary outside", s=E, p=E),
    _a("exec_interp", "escape_exec", "interp {payload} {secret} {marker}",
       "execve of a script whose #! interpreter is outside the view", s=E, p=E),
    _a("setuid", "escape_exec", "setuid {suid_payload} {root_secret} {marker}",
       "execve of a setuid-root copy (inside the view) that reads a root-only secret outside",
       needs=("setuid",),
       note="as a user the privilege is never gained (no_new_privs; a traced exec); as root "
            "the file rules still hold"),
    _a("exec_thread_race", "escape_exec", "thread_race {payload} {secret} {marker}",
       "a thread flips the path between a binary inside and one outside during execve "
       "(40 processes × up to 20 execs)", s=M, p=M, race=True, no_benign=("unotify-nolandlock",),
       note="without Landlock an exec is only let run from a single-threaded process "
            "(the benign exec fails too)"),
    _a("vfork_race", "escape_exec", "vfork_race {payload} {secret} {marker}",
       "vfork children exec a path a thread of the parent rewrites (200 vforks)",
       s=M, p=M, race=True, no_benign=("unotify-nolandlock",),
       note="without Landlock a vfork child's exec is refused (it shares its parent's memory)"),
    _a("exec_symlink_swap", "escape_exec", "symlink_swap {payload} {secret} {marker}",
       "another process swaps a symlink between a binary inside and one outside while "
       "single-threaded children exec it (100 execs)", s=E, p=E, race=True),
    # ---- the supervisor's death -------------------------------------------------------
    _a("kill_supervisor", "escape_kill", "self parent {secret} {marker}",
       "the program SIGKILLs the supervisor; its child then opens the secret", kind="kill"),
    _a("supervisor_killed", "escape_kill", "wait parent {secret} {marker}",
       "the test SIGKILLs the supervisor; the program's child then opens the secret",
       kind="kill"),
)

BY_NAME = {a.name: a for a in ATTACKS}

# Confine alone, without Net: (attack, with Landlock, why it escapes - an
# open bug, run as a strict xfail - or None: blocked).
NO_NET: tuple[tuple[str, bool, str | None], ...] = (
    ("unix_connect", True, None),  # walked in the view, executed on the program's behalf
    ("unix_connect", False, None),
    ("unix_bind", True, None),
    ("unix_bind", False, None),
    ("abstract_unix", True, None),  # abstract names are outside every view: EACCES
    ("abstract_unix", False, None),
)


def markdown_bugs() -> str:
    """The open bugs the battery knows (its strict xfails), one item each."""
    lines = []
    for a in ATTACKS:
        for method, why in a.bugs:
            lines.append(f"- `{a.name}` on {method}: {_md(why)}.")
    for name, landlock, why in NO_NET:
        if why:
            lines.append(f"- `{name}` with Confine alone (no Net), "
                         f"{'with' if landlock else 'without'} Landlock: {_md(why)}.")
    return "\n".join(lines) if lines else "- none"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(methods=METHODS) -> str:
    """The attack × method table (outcomes as words), then the attacks'
    notes as a numbered list, for the docs."""
    heads = {"unotify": "unotify", "unotify-nolandlock": "unotify, no Landlock",
             "seccomp": "seccomp", "ptrace": "ptrace"}
    words = {BLOCKED: "blocked", ESCAPES: "**escapes**", MAY: "may escape (race)", NA: "n/a"}
    lines = ["| attack | what it does | " + " | ".join(heads[m] for m in methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    notes = []
    for a in ATTACKS:
        what = _md(a.what)
        if a.note:
            notes.append(a.note)
            what += f" [{len(notes)}]"
        bugs = dict(a.bugs)
        cells = []
        for m in methods:
            if m in bugs:
                cells.append("**escapes: open bug**")
            elif a.net and m.startswith("unotify") and a.outcome[m] == BLOCKED:
                cells.append("blocked (Net)")
            else:
                cells.append(words[a.outcome[m]])
        lines.append(f"| `{a.name}` | {what} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"[{i}] {_md(n)}" + ("  " if i < len(notes) else "") for i, n in enumerate(notes, 1)]
    return "\n".join(lines)
