"""Policy: an enforcing layer of ordered allow/deny rules.

    from sysvisor import arg
    Policy([Rule("deny", "mkdir,mkdirat,%network"),
            Rule("deny", "openat", path="/etc/shadow*", errno=errno.EACCES),
            Rule("deny", "socket", when=(arg(0, bits=32) == AF_INET,), kill=True)],
           default="allow")

Rules are tried in order; the first that matches decides, else `default`.
A rule matches a call by

  syscalls  a syscall set in strace's `-e trace=` syntax: names, %class,
            /regex, `?name` (ignored where unknown), `all`, `!` negation;
  when      constant-argument predicates, `sysvisor.arg(i) == v`,
            `arg(i) & MASK == v`, `!=` (all must hold);
  path      an fnmatch glob (`*` also matches `/`) on the call's path
            argument(s), made absolute against the dirfd or the cwd
            (`call.path(i)`, lexically: `..` and symlinks are not resolved).

A deny fails the call with `errno` (EPERM unless said) or, with
`kill=True`, kills the calling process with SIGKILL and fails the call
(the process never sees the result). `default="deny"` makes the policy an
allow-list: every call no allow rule matches fails with EPERM.

Interests (what stops the program at all) are exactly the calls whose
outcome is not "let through without looking": see `Policy.interests`.
Rules that test only constant arguments are compiled into the seccomp
filter, so e.g. `socket` with `arg(0) == AF_INET` never stops an AF_UNIX
socket().

Security
--------
A deny is safe on every method: the call does not run. A path glob is a
decision on a *pointer* argument: the program can change the string after
the supervisor read it. So on the unotify method a call whose path the
policy read is never handed back to the kernel (CONTINUE); whatever the
policy decides, it passes the call down with `call.next()`, and it only
runs if a layer below executes it on the program's behalf (the Confine
layer opens the path it checked with openat2 and hands the fd over).
Policy alone on unotify therefore fails every such call closed (EPERM, and
a one-time message "decided on pointer arguments then continued") -
including the calls a path rule did *not* match, since the policy read
their path too. On the ptrace and seccomp methods the check is racy and
only runs with `insecure=True`.

Killing from a handler, per method: unotify - `kill(pid, SIGKILL)` through
a pidfd opened for the calling process and checked with NOTIF_ID_VALID
(so a recycled pid is never hit), then the call is answered with the
errno (the process is dying; the answer only releases the kernel's wait).
ptrace/seccomp - the tracee is stopped and cannot be reaped behind our
back, so `kill(pid, SIGKILL)` is safe; the call is then failed at entry
and the SIGKILL ends the process before it returns to user space.

The CLI syntax (`Policy.from_spec`, `sysvisor run --deny/--allow`):

    ENTRY[,ENTRY...]
    ENTRY := ITEM[COND...][:GLOB][=ERRNO|=kill]
    ITEM  := name | ?name | %class | /regex | all
    COND  := [I=V] | [I!=V] | [I&M=V] | [I&M!=V] | [I&M]   (arg I, 0-based;
             V and M are numbers or constant names: AF_INET, CLONE_NEWNS,
             O_WRONLY...; [I&M] means "any bit of M set")
    ERRNO := EACCES | 13 | ...

    --deny 'mkdir,%network=EACCES,openat:/etc/shadow*,ptrace=kill'
    --deny 'socket[0=AF_INET]=EAFNOSUPPORT,unshare[0&CLONE_NEWUSER]'

`--allow` entries come before `--deny` entries. An ITEM, GLOB or value
cannot contain `,`, `:`, `=` or `[`: write a `Rule` for those.

The syscalls that bypass path checks are listed, each with its reason, in
`sysvisor.layers.bypass` (BYPASS_LIST); `confinement_denials()` turns the
list into rules (`sysvisor run --deny-bypass`).
"""
from __future__ import annotations

import errno as _errno
import fnmatch
import os
import re
import signal
from dataclasses import dataclass, field

from ..errors import UsageError
from ..kernel.filter import Predicate
from ..layer import Layer, arg
from ..syscallset import SyscallSet
from .bypass import BYPASS, BYPASS_ERRNO, BYPASS_FLAGS, BYPASS_LIST, CLONE_NEWNS, CLONE_NEWUSER  # noqa: F401
from .bypass import confinement_denials  # noqa: F401  (the confinement stack's entry point)

__all__ = ["Policy", "Rule", "confinement_denials", "BYPASS", "BYPASS_ERRNO", "BYPASS_FLAGS", "BYPASS_LIST"]

# Path arguments, by their name in the syscall table's prototypes. Not
# `old`/`oldname` of symlink/symlinkat (a link's target is not looked up),
# nor the `name` of the xattr calls (an attribute name).
_PATH_ARG_NAMES = frozenset({"filename", "pathname", "path", "newname", "oldname", "new", "dir_name",
                             "dev_name", "new_root", "put_old", "specialfile", "special",
                             "from_path", "to_path"})
_NAME_IS_PATH = frozenset({"acct", "umount2", "umount"})
_TARGET_NOT_PATH = frozenset({"symlink", "symlinkat"})

# alternatives beyond this make the filter too big: fall back to ALWAYS
_MAX_ALTERNATIVES = 32
# default-deny also stops numbers no table knows, up to this (the kernel's
# tables end far below it; x32 numbers always reach the supervisor)
_UNKNOWN_LIMIT = 1024


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
    set: SyscallSet = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.action not in ("allow", "deny"):
            raise UsageError(f"rule action must be allow or deny, not {self.action!r}")
        if not 0 < self.errno <= 4095:
            raise UsageError(f"errno must be in 1..4095, not {self.errno}")
        self.when = tuple(self.when)
        for p in self.when:
            if not isinstance(p, Predicate):
                raise UsageError(f"rule condition {p!r} is not an arg(i) comparison")
        self.set = SyscallSet(self.syscalls)
        from ..tables import native_arch, table

        self.set.numbers(table(native_arch()), strict=True)  # typos are usage errors

    @property
    def quiet(self) -> bool:
        """An allow decided on constants only: its calls need not stop."""
        return self.action == "allow" and self.path is None

    def __str__(self) -> str:
        s = f"{self.action} {self.syscalls}"
        if self.when:
            s += " if " + " and ".join(str(p) for p in self.when)
        if self.path is not None:
            s += f" path {self.path}"
        if self.action == "deny":
            s += " kill" if self.kill else f" {_errno.errorcode.get(self.errno, self.errno)}"
        return s


def path_args(syscall) -> list[int]:
    """Indexes of the path arguments of a syscall table entry."""
    if syscall is None:
        return []
    out = []
    for i, decl in enumerate(syscall.args or ()):
        if "char *" not in decl or "const char *const" in decl:
            continue
        name = decl.rsplit(" ", 1)[-1].lstrip("*")
        if name == "name" and syscall.name in _NAME_IS_PATH:
            out.append(i)
        elif name in _PATH_ARG_NAMES and not (syscall.name in _TARGET_NOT_PATH and name in ("old", "oldname")):
            out.append(i)
    return out


def _negate(p: Predicate) -> Predicate:
    return Predicate(p.index, p.value, p.mask, not p.negate, p.bits)


def _contradicts(alt: tuple[Predicate, ...]) -> bool:
    seen = {}
    for p in alt:
        key = (p.index, p.value, p.mask, p.bits)
        if seen.get(key, p.negate) != p.negate:
            return True
        seen[key] = p.negate
    return False


def _and(dnf: list[tuple], conj: tuple) -> list[tuple]:
    out = []
    for alt in dnf:
        merged = tuple(dict.fromkeys(alt + conj))
        if not _contradicts(merged):
            out.append(merged)
    return out


def _stop_condition(rules: list[Rule], default: str):
    """When must a call of one syscall stop, given the rules that apply to
    it (in order)? None: always; []: never; else alternatives (DNF) of
    constant predicates. Quiet allows (constants only) shadow later rules:
    their negation is folded in, so e.g. `allow socket if AF_UNIX` then
    `deny socket` stops only non-unix sockets."""
    alts: list[tuple] = []
    guard: list[tuple] = [()]  # no earlier quiet allow matched (DNF)
    for r in rules:
        if r.quiet:
            if not r.when:
                return alts  # always allowed from here on, without looking
            neg = [(_negate(p),) for p in r.when]  # not(p1 and p2) = !p1 or !p2
            new = [g + n for g in guard for n in neg]
            new = [tuple(dict.fromkeys(a)) for a in new if not _contradicts(tuple(dict.fromkeys(a)))]
            if len(new) > _MAX_ALTERNATIVES:
                continue  # widen: stop more often, decide in Python
            guard = new
            continue
        term = _and(guard, r.when)
        if not r.when and r.path is None:
            alts += term
            return None if alts == [()] or () in alts else alts
        alts += term
        if len(alts) > _MAX_ALTERNATIVES:
            return None
    if default == "deny":
        alts += guard
    if () in alts:
        return None
    return alts


class Policy(Layer):
    """Ordered allow/deny rules; the first matching rule decides, else
    `default`. `rules` may be changed until a session starts (the
    interests are computed then)."""

    enforcing = True

    def __init__(self, rules: list[Rule] | None = None, default: str = "allow"):
        if default not in ("allow", "deny"):
            raise UsageError(f"default must be allow or deny, not {default!r}")
        self.rules = list(rules or [])
        self.default = default
        self._cache: dict[tuple[str, int], list[Rule]] = {}
        self._cache_key: tuple = ()

    def __repr__(self) -> str:
        return f"Policy({len(self.rules)} rules, default={self.default!r})"

    # ---- interests: only what a rule (or a deny default) can act on ----------

    def _applicable(self, table, nr: int) -> list[Rule]:
        key = tuple(map(id, self.rules))
        if key != self._cache_key:
            self._cache = {}
            self._cache_key = key
        ck = (table.arch, nr)
        rules = self._cache.get(ck)
        if rules is None:
            rules = self._cache[ck] = [r for r in self.rules if nr in self._numbers(r, table)]
        return rules

    def _numbers(self, rule: Rule, table) -> set[int]:
        cache = rule.__dict__.setdefault("_nrs", {})
        nrs = cache.get(table.arch)
        if nrs is None:
            nrs = cache[table.arch] = rule.set.numbers(table, strict=False)[0]
        return nrs

    def interests(self, table):
        """nr -> None (always stop) or alternatives of constant predicates.
        A syscall stops when its outcome may be something else than "let
        through without reading memory": a deny, a path rule, or the deny
        default. With default="deny", numbers no table knows (below 1024)
        stop too, and fail with ENOSYS (the engines' enforcing rule), so
        a syscall newer than the tables is never waved through."""
        out: dict[int, list | None] = {}
        for sc in table:
            cond = _stop_condition(self._applicable(table, sc.nr), self.default)
            if cond is None or cond:
                out[sc.nr] = cond
        if self.default == "deny":
            known = {sc.nr for sc in table}
            for nr in range(_UNKNOWN_LIMIT):
                if nr not in known:
                    out[nr] = None
        return out

    # ---- deciding ------------------------------------------------------------------

    def syscall(self, call):
        from ..tables import table

        rules = self._applicable(table(call.arch), call.nr) if call.syscall is not None else []
        paths = None
        for rule in rules:
            if rule.when and not all(p.matches(call.args) for p in rule.when):
                continue
            if rule.path is not None:
                if paths is None:
                    paths = self._paths(call)
                if not any(fnmatch.fnmatchcase(p, rule.path) for p in paths):
                    continue
            return self._apply(call, rule.action, rule)
        return self._apply(call, self.default, None)

    @staticmethod
    def _paths(call) -> list[str]:
        out = []
        for i in path_args(call.syscall):
            p = call.path(i)
            if p is not None:
                out.append(os.path.normpath(p) if p.startswith("/") else p)
        return out

    def _apply(self, call, action: str, rule: Rule | None):
        if action == "allow":
            return call.next()
        if rule is not None and rule.kill:
            kill_caller(call)
        return call.fail(rule.errno if rule is not None else _errno.EPERM)

    # ---- building ---------------------------------------------------------------

    @classmethod
    def from_spec(cls, deny: str | None = None, allow: str | None = None,
                  default: str = "allow") -> "Policy":
        """From the CLI syntax (see the module docstring):
        `Policy.from_spec(deny="mkdir,%network=EACCES,openat:/etc/shadow*,ptrace=kill")`.
        Allow entries come first, then deny entries."""
        rules = [parse_entry("allow", e) for e in _entries(allow)]
        rules += [parse_entry("deny", e) for e in _entries(deny)]
        return cls(rules, default=default)


def kill_caller(call) -> None:
    """SIGKILL the process that made `call` (see the module docstring for
    how each method makes this safe against pid reuse)."""
    n = call._mem
    if hasattr(n, "valid"):  # unotify: the caller is not stopped; pin it with a pidfd
        try:
            pidfd = os.pidfd_open(call.pid)
        except OSError:
            return
        try:
            if n.valid():
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except OSError:
            pass
        finally:
            os.close(pidfd)
        return
    try:
        os.kill(call.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _entries(spec: str | None) -> list[str]:
    return [e.strip() for e in (spec or "").split(",") if e.strip()]


_COND = re.compile(r"\[\s*(\d)\s*(?:&\s*([^\]=!]+?))?\s*(?:(!=|=)\s*([^\]]+?))?\s*\]")


def _constant(text: str) -> int:
    text = text.strip()
    try:
        return int(text, 0)
    except ValueError:
        pass
    v = _constants().get(text)
    if v is None:
        raise UsageError(f"unknown constant {text!r} in policy entry (use a number)")
    return v


_CONSTANTS: dict[str, int] | None = None


def _constants() -> dict[str, int]:
    """Constant names for the CLI syntax: the decoders' tables, plus os,
    socket and the CLONE_* flags."""
    global _CONSTANTS
    if _CONSTANTS is None:
        import socket

        from ..decode import xlat

        out: dict[str, int] = {}
        for tab in vars(xlat).values():
            if isinstance(tab, dict):
                items = tab.items()
            elif isinstance(tab, tuple) and tab and isinstance(tab[0], tuple):
                items = tab
            else:
                continue
            for k, v in items:
                if isinstance(k, int) and isinstance(v, str):
                    out.setdefault(v, k)
        for mod, prefixes in ((os, ("O_", "AT_")), (socket, ("AF_", "SOCK_", "IPPROTO_"))):
            for name in dir(mod):
                if name.startswith(prefixes) and isinstance(getattr(mod, name), int):
                    out.setdefault(name, int(getattr(mod, name)))
        out.setdefault("CLONE_NEWNS", CLONE_NEWNS)
        out.setdefault("CLONE_NEWUSER", CLONE_NEWUSER)
        _CONSTANTS = out
    return _CONSTANTS


_INT32 = re.compile(r"^(const )?(unsigned int|unsigned|int|umode_t|pid_t|uid_t|gid_t|qid_t|u32|__u32|"
                    r"key_serial_t|clockid_t|mqd_t|timer_t|rwf_t|__s32|s32)\s+\w+$")


def _arg_bits(item: str, index: int) -> int:
    """32 when argument `index` is a C int (or smaller) in every syscall
    of `item` (the kernel ignores the upper half, so must the filter), else
    64."""
    from ..tables import native_arch, table

    tab = table(native_arch())
    try:
        nrs = SyscallSet(item).numbers(tab, strict=False)[0]
    except UsageError:
        return 64
    decls = [tab.by_nr[nr].args[index] if index < len(tab.by_nr[nr].args or ()) else ""
             for nr in nrs if nr in tab.by_nr]
    return 32 if decls and all(_INT32.match(d) for d in decls) else 64


def parse_entry(action: str, entry: str) -> Rule:
    """One CLI entry `ITEM[COND...][:GLOB][=ERRNO|=kill]` -> Rule."""
    err, kill = _errno.EPERM, False
    text = entry
    m = re.search(r"=(kill|E[A-Z0-9]+|\d+)$", text)
    if m is not None and "[" not in text[m.start():]:
        what = m.group(1)
        text = text[:m.start()]
        if what == "kill":
            kill = True
        elif what.isdigit():
            err = int(what)
        elif isinstance(getattr(_errno, what, None), int):
            err = getattr(_errno, what)
        else:
            raise UsageError(f"unknown errno {what!r} in policy entry {entry!r}")
    elif re.search(r"=[^\]]*$", text) and not text.rstrip().endswith("]"):
        raise UsageError(f"unknown errno {text.rsplit('=', 1)[1]!r} in policy entry {entry!r}")
    path = None
    if ":" in text:
        text, _, path = text.partition(":")
        if not path:
            raise UsageError(f"empty path glob in policy entry {entry!r}")
    when = []
    if "[" in text:
        item, _, conds = text.partition("[")
        conds = "[" + conds
        pos = 0
        for cm in _COND.finditer(conds):
            if cm.start() != pos:
                break
            pos = cm.end()
            index = int(cm.group(1))
            if index > 5:
                raise UsageError(f"argument index {index} > 5 in policy entry {entry!r}")
            ref = arg(index, bits=_arg_bits(text.partition("[")[0], index))
            if cm.group(2) is not None:
                ref = ref & _constant(cm.group(2))
            if cm.group(3) is None:  # [I&M]: any bit of M
                if cm.group(2) is None:
                    raise UsageError(f"condition without a value in policy entry {entry!r}")
                mask = _constant(cm.group(2))
                bit = mask & -mask
                if bit != mask:
                    raise UsageError(f"[{index}&M] takes a single bit in policy entry {entry!r}; "
                                     "write one entry per bit")
                when.append(ref == bit)
            elif cm.group(3) == "=":
                when.append(ref == _constant(cm.group(4)))
            else:
                when.append(ref != _constant(cm.group(4)))
        if pos != len(conds):
            raise UsageError(f"cannot parse the conditions {conds!r} in policy entry {entry!r}")
        text = item
    if not text.strip():
        raise UsageError(f"empty syscall set in policy entry {entry!r}")
    return Rule(action, text.strip(), when=tuple(when), path=path, errno=err, kill=kill)
