"""Policy: an enforcing layer of allow/deny rules.

    Policy([Rule("deny", "mkdir,%network"),
            Rule("deny", "openat", path="/etc/shadow*", errno=errno.EACCES),
            Rule("deny", "socket", when=(arg(0, bits=32) == AF_INET,), kill=True)],
           default="allow")

Rules are tried in order; the first that matches decides. A rule matches
a call by syscall set (strace's -e trace= syntax), constant-argument
predicates (pushed into the seccomp filter when a rule has nothing else)
and a glob on the call's path argument(s). `default="deny"` makes the
policy an allow-list. A deny fails the call with an errno (EPERM unless
said otherwise) or kills the calling process.

Security: a deny is a safe decision on every method (the call does not
run). An *allow* that depended on a path read from the program's memory
is only safe when a layer below executes the call on the program's
behalf (a Confine layer); on the unotify method, letting such a call
continue fails it closed (EPERM), see docs/design.md.

BYPASS lists, in one place, the syscalls that get around path checks:
a confining stack denies them (`confinement_denials()`).
"""
from __future__ import annotations

import errno as _errno
import fnmatch
import os
import signal
from dataclasses import dataclass

from ..errors import UsageError
from ..kernel.filter import Predicate
from ..layer import Layer, arg
from ..syscallset import SyscallSet

# namespace flags for unshare/setns that change what paths mean
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000

# The syscalls that bypass path-based confinement, and why. One place:
# confinement_denials() turns this into Policy rules.
BYPASS: dict[str, str] = {
    "io_uring_setup": "io_uring submits opens and I/O the filter never sees",
    "io_uring_enter": "as io_uring_setup",
    "io_uring_register": "as io_uring_setup",
    "open_by_handle_at": "opens a file by handle, without a path",
    "name_to_handle_at": "leaks handles usable with open_by_handle_at",
    "ptrace": "controls another process (the supervisor, a sibling)",
    "process_vm_readv": "reads another process's memory",
    "process_vm_writev": "writes another process's memory",
    "bpf": "loads programs into the kernel",
    "userfaultfd": "stalls the kernel at chosen points (race amplifier)",
    "perf_event_open": "observes and samples other code",
    "mount": "changes what paths resolve to",
    "umount": "as mount",
    "umount2": "as mount",
    "move_mount": "as mount",
    "open_tree": "clones mount trees",
    "open_tree_attr": "as open_tree",
    "fsopen": "new mount API",
    "fsconfig": "new mount API",
    "fsmount": "new mount API",
    "fspick": "new mount API",
    "mount_setattr": "changes mount attributes",
    "pivot_root": "changes the root",
    "chroot": "changes the root",
    "kexec_load": "replaces the kernel",
    "kexec_file_load": "replaces the kernel",
    "init_module": "loads kernel code",
    "finit_module": "loads kernel code",
    "delete_module": "unloads kernel code",
    "fanotify_init": "file access notification outside the view",
    "pidfd_getfd": "steals another process's file descriptors",
    "lookup_dcookie": "resolves kernel-internal path cookies",
}
# allowed only without these flags (constant arguments)
BYPASS_FLAGS: dict[str, tuple[int, int, str]] = {
    "unshare": (0, CLONE_NEWNS | CLONE_NEWUSER, "a new mount or user namespace remaps paths"),
    "setns": (1, CLONE_NEWNS | CLONE_NEWUSER, "joining a mount or user namespace remaps paths"),
}


@dataclass
class Rule:
    """One rule. action: "allow" or "deny"; syscalls: a syscall set;
    when: constant-argument predicates (all must hold); path: a glob on
    the path argument(s); errno: the error of a deny; kill: a deny kills."""

    action: str
    syscalls: str
    when: tuple[Predicate, ...] = ()
    path: str | None = None
    errno: int = _errno.EPERM
    kill: bool = False

    def __post_init__(self):
        if self.action not in ("allow", "deny"):
            raise UsageError(f"rule action must be allow or deny, not {self.action!r}")
        self.set = SyscallSet(self.syscalls)
        from ..tables import native_arch, table

        self.set.numbers(table(native_arch()), strict=True)  # typos are usage errors


def _path_args(call) -> list[int]:
    sc = call.syscall
    if sc is None:
        return []
    out = []
    for i, decl in enumerate(sc.args):
        d = decl.replace("const ", "")
        name = d.rsplit(" ", 1)[-1].lstrip("*")
        if d.startswith("char *") and ("name" in name or "path" in name):
            out.append(i)
    return out


class Policy(Layer):
    """Allow/deny rules; the first matching rule decides, else `default`."""

    enforcing = True

    def __init__(self, rules: list[Rule] | None = None, default: str = "allow"):
        if default not in ("allow", "deny"):
            raise UsageError(f"default must be allow or deny, not {default!r}")
        self.rules = list(rules or [])
        self.default = default
        self._numbers: dict[tuple[str, int], list[Rule]] = {}

    # ---- interests: only what a rule (or a deny default) can act on --------

    def interests(self, table):
        if self.default == "deny":
            return None
        out: dict[int, list | None] = {}
        for rule in self.rules:
            nrs, _everything = rule.set.numbers(table, strict=False)
            for nr in nrs:
                if rule.path is None and rule.when:
                    alts = out.setdefault(nr, [])
                    if alts is not None:
                        alts.append(tuple(rule.when))
                else:
                    out[nr] = None
        return out

    def _rules_for(self, call) -> list[Rule]:
        key = (call.arch, call.nr)
        rules = self._numbers.get(key)
        if rules is None:
            from ..tables import table

            tab = table(call.arch)
            rules = [r for r in self.rules if call.nr in r.set.numbers(tab, strict=False)[0]]
            self._numbers[key] = rules
        return rules

    # ---- deciding -----------------------------------------------------------------

    def syscall(self, call):
        for rule in self._rules_for(call):
            if rule.when and not all(p.matches(call.args) for p in rule.when):
                continue
            if rule.path is not None and not self._path_matches(call, rule.path):
                continue
            return self._apply(call, rule.action, rule)
        return self._apply(call, self.default, None)

    def _path_matches(self, call, pattern: str) -> bool:
        for i in _path_args(call):
            p = call.path(i)
            if p is not None and fnmatch.fnmatchcase(os.path.normpath(p), pattern):
                return True
        return False

    def _apply(self, call, action: str, rule: Rule | None):
        if action == "allow":
            return call.next()
        if rule is not None and rule.kill:
            try:
                os.kill(call.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return call.fail(rule.errno if rule is not None else _errno.EPERM)

    # ---- building -------------------------------------------------------------

    @classmethod
    def from_spec(cls, deny: str | None = None, allow: str | None = None,
                  default: str = "allow") -> "Policy":
        """From the CLI syntax: comma-separated entries `SET[:GLOB][=ERRNO|=kill]`,
        e.g. `--deny 'mkdir,%network,openat:/etc/shadow*=EACCES,ptrace=kill'`.
        Allow entries come first, then deny entries."""
        rules = [_parse_entry("allow", e) for e in _entries(allow)]
        rules += [_parse_entry("deny", e) for e in _entries(deny)]
        return cls(rules, default=default)


def _entries(spec: str | None) -> list[str]:
    return [e.strip() for e in (spec or "").split(",") if e.strip()]


def _parse_entry(action: str, entry: str) -> Rule:
    err, kill = _errno.EPERM, False
    if "=" in entry:
        entry, _, what = entry.rpartition("=")
        if what == "kill":
            kill = True
        elif what.isdigit():
            err = int(what)
        elif hasattr(_errno, what) and what.startswith("E"):
            err = getattr(_errno, what)
        else:
            raise UsageError(f"unknown errno {what!r} in policy entry")
    path = None
    if ":" in entry:
        entry, _, path = entry.partition(":")
    return Rule(action, entry, path=path, errno=err, kill=kill)


def confinement_denials(err: int = _errno.EPERM) -> list[Rule]:
    """The rules a confining stack puts first: every BYPASS syscall, and
    unshare/setns with namespace flags that remap paths."""
    rules = [Rule("deny", ",".join("?" + n for n in BYPASS), errno=err)]
    for name, (index, flags, _why) in BYPASS_FLAGS.items():
        # deny when any of the flags is set: one rule per flag
        for bit in (CLONE_NEWNS, CLONE_NEWUSER):
            if flags & bit:
                rules.append(Rule("deny", name, when=(arg(index, bits=32) & bit == bit,), errno=err))
    return rules
