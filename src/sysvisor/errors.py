"""Errors sysvisor reports to users: each has a message meant to be read,
and the CLI turns them into one line and an exit code, never a traceback."""
from __future__ import annotations


class SysvisorError(Exception):
    """Base class. `exit_code` is what the CLI exits with."""

    exit_code = 1


class UsageError(SysvisorError):
    """The request cannot be understood (bad option, unknown name)."""

    exit_code = 2


class MethodUnavailable(SysvisorError):
    """The chosen method cannot run on this kernel or for this user."""

    exit_code = 2


class CapabilityError(SysvisorError):
    """A layer needs something the chosen method cannot give."""

    exit_code = 2


class SpawnError(SysvisorError):
    """The command could not be started (not found, not executable...)."""

    exit_code = 1


class AttachError(SysvisorError):
    """A pid could not be attached (gone, not permitted)."""

    exit_code = 1
