"""sysvisor: a syscall hypervisor for Linux.

Intercept a program's system calls with one of several kernel mechanisms
(methods) and hand each call to a stack of Python layers:

    import sysvisor

    class CountOpens(sysvisor.Layer):
        def __init__(self):
            self.n = 0
        def openat(self, call):
            self.n += 1
            return call.next()

    opens = CountOpens()
    status = sysvisor.run(["ls", "/"], layers=[opens])
"""
from .call import Call
from .errors import (AttachError, CapabilityError, MethodUnavailable, SpawnError,
                     SysvisorError, UsageError)
from .layer import Layer, arg, blocking, when
from .session import Session, run

__version__ = "0.1.0"
__all__ = ["Call", "Layer", "Session", "run", "arg", "when", "blocking", "SysvisorError",
           "UsageError", "MethodUnavailable", "CapabilityError", "SpawnError", "AttachError"]
