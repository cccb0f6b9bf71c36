"""Methods: the ways of getting syscalls out of a process, and their
capabilities. `choose` picks one for a layer stack, or checks the user's
pick, and says why."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import CapabilityError, MethodUnavailable, UsageError

# Capabilities a layer may need (Layer.needs) and a method may offer.
CAPABILITIES = {
    "observe": "see the syscalls and their arguments",
    "change_args": "run a syscall with changed arguments",
    "answer": "answer a syscall without running it",
    "result": "see or change a syscall's result",
    "attach": "attach to a running process",
    "boundary": "be a security boundary (decisions the program cannot race)",
    "events": "report fork, exec, signal and group-stop events to on_fork/on_exec/on_signal/on_stop",
    "on_behalf": "execute calls on the program's behalf (hand it file descriptors, fetch its own)",
}

# Event hooks that need the "events" capability: a layer that defines one
# needs it without saying so (unotify has no such events to deliver).
EVENT_HOOKS = ("on_fork", "on_exec", "on_signal", "on_stop")


@dataclass(frozen=True)
class MethodInfo:
    name: str
    summary: str
    capabilities: frozenset[str]
    requires: tuple[str, ...]  # kernel features (sysvisor.kernel.probe names)
    implemented: bool
    cost: int  # relative cost per intercepted call: lower is cheaper
    # `auto` may pick it: the in-process methods may not, since they lose
    # calls (the loader's, static programs', and for preload libc's own)
    auto: bool = True
    # in-process methods: the shim ("sud" or "preload"), and whether the
    # hybrid backstop (methods/backstop.py) runs under it
    shim: str | None = None
    backstop: bool = False


METHODS: dict[str, MethodInfo] = {
    m.name: m
    for m in (
        MethodInfo("ptrace", "ptrace syscall-entry and -exit stops for every syscall",
                   frozenset({"observe", "change_args", "answer", "result", "attach", "events"}),
                   ("ptrace_seize", "ptrace_get_syscall_info"), True, 30),
        MethodInfo("seccomp", "ptrace + SECCOMP_RET_TRACE: one stop, only for the syscalls a layer asked for",
                   frozenset({"observe", "change_args", "answer", "result", "events"}),
                   ("ptrace_seize", "ptrace_get_syscall_info", "seccomp_filter"), True, 20),
        # "boundary" only when a layer executes the call on the program's
        # behalf: the engine refuses to CONTINUE a call an enforcing layer
        # decided on after reading the program's memory (methods/unotify.py).
        MethodInfo("unotify", "seccomp user notification; executes calls on the program's behalf",
                   frozenset({"observe", "answer", "boundary", "on_behalf"}),
                   ("seccomp_user_notif", "seccomp_addfd", "pidfd_open", "pidfd_getfd"), True, 15),
        # In-process (methods/inprocess.py): never a boundary (the program can
        # corrupt the shim); "events" are fork/vfork/clone, exec and exit, not
        # signal deliveries or group-stops.
        MethodInfo("sud", "syscall user dispatch: SIGSYS in-process, no context switch",
                   frozenset({"observe", "change_args", "answer", "result", "events"}),
                   ("syscall_user_dispatch",), True, 5, auto=False, shim="sud"),
        MethodInfo("preload", "libc overlay (LD_PRELOAD): a function call per libc syscall wrapper",
                   frozenset({"observe", "change_args", "answer", "result", "events"}), (), True, 1,
                   auto=False, shim="preload"),
        # The hybrid backstop: the same, plus a seccomp filter that sends to
        # the supervisor every call a layer asked for that did not come from
        # the shim's trampoline. Those calls have unotify's limits (no
        # changed args, no results: a clear error, methods/backstop.py), so
        # the capabilities are the shim's for the calls it sees; still no
        # boundary, and still by name only (auto cannot promise results).
        MethodInfo("sud+backstop", "sud, and seccomp user notification for every call not made "
                   "from the shim's trampoline (loader, static programs, ...)",
                   frozenset({"observe", "change_args", "answer", "result", "events"}),
                   ("syscall_user_dispatch", "seccomp_user_notif", "seccomp_addfd", "pidfd_open",
                    "pidfd_getfd"), True, 6, auto=False, shim="sud", backstop=True),
        MethodInfo("preload+backstop", "preload, and seccomp user notification for every call not "
                   "made from the shim's trampoline (libc's own, inline, static programs, ...)",
                   frozenset({"observe", "change_args", "answer", "result", "events"}),
                   ("seccomp_user_notif", "seccomp_addfd", "pidfd_open", "pidfd_getfd"), True, 2,
                   auto=False, shim="preload", backstop=True),
        MethodInfo("ebpf", "system-wide tracepoints, observe only",
                   frozenset({"observe", "attach"}), ("ebpf", "btf"), False, 0),
    )
}


def method_problems(info: MethodInfo, thorough: bool = False) -> list[str]:
    """Why this method cannot run here (empty if it can). Without
    `thorough`, features are presumed present on kernels new enough to have
    them, and probed (in a child) only on older ones."""
    if not info.implemented:
        return [f"the {info.name} method is not implemented in this version of sysvisor"]
    from ..kernel import probe

    out = []
    if info.shim:
        from .inprocess import shim_problems

        out += shim_problems(info.shim)
    for feat in info.requires:
        if not thorough and probe.presumed(feat):
            continue
        f = probe.probe(feat)
        if not f.available:
            out.append(f"{f.title} is missing (Linux {f.since}+): {f.detail}")
    return out


def needed_capabilities(layers, attach: bool) -> dict[str, list[str]]:
    """capability -> names of the layers (or "attach") that need it."""
    need: dict[str, list[str]] = {"observe": []}
    for layer in layers:
        for cap in getattr(layer, "needs", ()):
            if cap not in CAPABILITIES:
                raise UsageError(f"layer {type(layer).__name__} needs unknown capability {cap!r}")
            need.setdefault(cap, []).append(type(layer).__name__)
        if getattr(layer, "enforcing", False):
            need.setdefault("boundary", []).append(type(layer).__name__)
        if any(callable(getattr(layer, h, None)) for h in EVENT_HOOKS):
            need.setdefault("events", []).append(type(layer).__name__)
    if attach:
        need.setdefault("attach", []).append("attaching to a running pid")
    return need


def choose(name: str, layers, attach: bool = False, insecure: bool = False) -> tuple[MethodInfo, str]:
    """Return (method, reason). Raises a clear error when the named method
    does not exist, cannot run here, or lacks a capability the stack needs.
    With insecure=True, a missing "boundary" is accepted (and said)."""
    need = needed_capabilities(layers, attach)
    if insecure:
        need.pop("boundary", None)
    if name != "auto":
        info = METHODS.get(name)
        if info is None:
            raise UsageError(f"unknown method {name!r}; choose one of: auto, {', '.join(METHODS)}")
        missing = [c for c in need if c not in info.capabilities]
        if missing:
            who = "; nor ".join(f"{CAPABILITIES[c]} ({c}), which {', '.join(need[c])} needs"
                                for c in missing)
            able = [m.name for m in METHODS.values() if all(c in m.capabilities for c in need)]
            hint = f"; methods that can: {', '.join(able)}" if able else ""
            if "boundary" in missing:
                hint += (" (or accept an insecure run explicitly: --insecure on the command line, "
                         "insecure=True in Python)")
            raise CapabilityError(f"method {name} cannot {who}{hint}")
        problems = method_problems(info)
        if problems:
            raise MethodUnavailable(f"method {name} is unavailable here: " + "; ".join(problems))
        return info, f"method {name} (chosen by the user)"
    tried = []
    for info in sorted(METHODS.values(), key=lambda m: m.cost):
        if not info.auto or not all(c in info.capabilities for c in need):
            continue
        problems = method_problems(info)
        if problems:
            tried.append(f"{info.name}: {problems[0]}")
            continue
        why = f"method {info.name}: the cheapest one that can {', '.join(sorted(need))}"
        return info, why
    if tried:
        lacking = ", ".join(sorted(need))
        raise MethodUnavailable(f"no method can {lacking} here ({'; '.join(tried)})")
    raise CapabilityError(_conflict(need, insecure))


def _conflict(need: dict[str, list[str]], insecure: bool) -> str:
    """Why no method can run this stack: who needs what, and who offers it."""
    usable = sorted((m for m in METHODS.values() if m.implemented), key=lambda m: m.cost)
    everywhere = {c for c in need if all(c in m.capabilities for m in usable)}
    by_layer: dict[str, set[str]] = {}
    for cap, who in need.items():
        if cap not in everywhere:
            for w in who:
                by_layer.setdefault(w, set()).add(cap)
    parts = []
    for who, caps in by_layer.items():
        able = [m.name for m in usable if caps <= m.capabilities]
        parts.append(f"{who} needs {', '.join(sorted(caps))} ({'methods ' + ', '.join(able) if able else 'no method'})")
    msg = "no method can run these layers together: " + "; ".join(parts)
    if "boundary" in need and not insecure:
        rest = {c for c in need if c != "boundary"}
        able = [m.name for m in usable if rest <= m.capabilities]
        if able:
            msg += (f"; with an explicit insecure run (--insecure, insecure=True) {able[0]} can, "
                    "but the enforcing layers' decisions can then be raced")
    return msg + "; or drop one of them"


def explain(feature: str) -> str:
    """A probe's account of a feature, for an error message after it failed."""
    from ..kernel import probe

    f = probe.probe(feature)
    state = "available" if f.available else "missing"
    return f"{f.title} (Linux {f.since}+): {state}; {f.detail}"


def resolve_command(argv: list[str], env: dict | None) -> tuple[str, dict]:
    """The executable to run for `argv` (PATH looked up in `env`) and the
    environment to give it; SpawnError when it does not exist, like strace."""
    import os
    import shutil

    from ..errors import SpawnError

    if not argv:
        raise SpawnError("no command given")
    env = inherited_environ() if env is None else dict(env)
    exe = argv[0]
    if "/" not in exe:
        found = shutil.which(exe, path=env.get("PATH", os.defpath))
        if found is None:
            raise SpawnError(f"{exe}: command not found")
        exe = found
    elif not os.path.exists(exe):
        raise SpawnError(f"Can't stat '{exe}': No such file or directory")
    elif os.path.isdir(exe):
        raise SpawnError(f"Can't exec '{exe}': Is a directory")
    return exe, env


def inherited_environ() -> dict[str, str]:
    """os.environ, minus the LC_CTYPE that Python's locale coercion (PEP 538)
    adds when started with LANG=C: the program must see the environment
    sysvisor was given, as under strace."""
    import os

    env = dict(os.environ)
    if "LC_CTYPE" in env:
        try:
            with open("/proc/self/environ", "rb") as f:
                initial = f.read().split(b"\0")
        except OSError:
            return env
        if not any(v.startswith(b"LC_CTYPE=") for v in initial):
            del env["LC_CTYPE"]
    return env
