"""What a layer can ask of the program's start: actions the engine applies
in the child, between fork and exec (`Layer.spawn_setup`).

    class Jail(sysvisor.Layer):
        enforcing = True
        def spawn_setup(self, argv, env):
            return [sysvisor.spawn.Landlock(self.ruleset_fd)]

Every engine calls each layer's `spawn_setup(argv, env)` (top layer first)
before it forks the program; a layer returns a list of actions (or None):

  Landlock(ruleset_fd)  the child applies the ruleset with
                        landlock_restrict_self, after PR_SET_NO_NEW_PRIVS and
                        before the seccomp filter and exec (see
                        kernel/landlock.py); the supervisor is never
                        restricted. Several rulesets stack.
  Chdir(path)           the child's working directory (host path), instead
                        of the session's `cwd`.
  Executable(path)      the path the child passes to execve: the layer has
                        resolved the command itself (in a confinement view);
                        the engine skips its PATH lookup on the host.

At most one Chdir and one Executable in a stack (two are a SysvisorError).
A failure in the child (e.g. landlock_restrict_self refused) fails the
spawn with a SpawnError naming the stage. After a successful spawn,
`session.spawn_actions` holds the actions that were applied, so a layer can
check in `on_start` that its own were (compare with `in`).
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import SysvisorError


@dataclass(frozen=True, eq=False)
class Landlock:
    """Restrict the child with this Landlock ruleset fd (the layer owns it)."""

    ruleset_fd: int


@dataclass(frozen=True, eq=False)
class Chdir:
    """The child's working directory, a host path."""

    path: str


@dataclass(frozen=True, eq=False)
class Executable:
    """The path the child execs (argv is unchanged)."""

    path: str


ACTIONS = (Landlock, Chdir, Executable)


@dataclass
class Plan:
    """The engine's view of the actions of a stack, for one spawn."""

    actions: tuple = ()
    landlock_fds: tuple[int, ...] = ()
    cwd: str | None = None
    executable: str | None = None


def plan(layers, argv: list[str], env: dict | None, cwd: str | None) -> Plan:
    """Collect the stack's spawn actions (the engines call this)."""
    actions = []
    chdir = executable = None
    fds = []
    for layer in layers:
        hook = getattr(layer, "spawn_setup", None)
        if hook is None:
            continue
        for action in hook(list(argv), env) or ():
            if not isinstance(action, ACTIONS):
                raise SysvisorError(f"layer {type(layer).__name__}: spawn_setup returned "
                                    f"{action!r}, not a sysvisor.spawn action")
            if isinstance(action, Landlock):
                fds.append(action.ruleset_fd)
            elif isinstance(action, Chdir):
                if chdir is not None:
                    raise SysvisorError("two layers set the program's working directory")
                chdir = action.path
            else:
                if executable is not None:
                    raise SysvisorError("two layers resolved the program's executable")
                executable = action.path
            actions.append(action)
    return Plan(tuple(actions), tuple(fds), chdir if chdir is not None else cwd, executable)
