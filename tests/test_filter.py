"""The BPF assembler and the filter compiler: interpreted in Python for
exhaustive checks, and installed in real children for what the kernel does."""
from __future__ import annotations

import errno
import os
import signal

import pytest

from sysvisor import _native
from sysvisor.arch import AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64
from sysvisor.kernel import bpf
from sysvisor.kernel.filter import ArchInterests, Predicate, compile_filter
from sysvisor.tables import table
from conftest import run_as

X86 = AUDIT_ARCH_X86_64
TRACE, ALLOW, KILL = bpf.RET_TRACE, bpf.RET_ALLOW, bpf.RET_KILL_PROCESS


def interests(arch, *nrs, **conds):
    ai = ArchInterests(arch)
    for nr in nrs:
        ai.add(nr)
    return ai


def test_exact_set_and_arch_check():
    code = compile_filter([interests(X86, 2, 3, 4, 257, 59), interests(AUDIT_ARCH_I386, 5)])
    for nr in range(0, 600):
        want = TRACE if nr in (2, 3, 4, 257, 59) else ALLOW
        assert bpf.run(code, nr, X86) == want, nr
    assert bpf.run(code, 5, AUDIT_ARCH_I386) == TRACE
    assert bpf.run(code, 6, AUDIT_ARCH_I386) == ALLOW
    # an ABI nobody compiled for is killed, never waved through
    assert bpf.run(code, 2, AUDIT_ARCH_AARCH64) == KILL
    assert bpf.run(code, 2, 0x12345678) == KILL
    # x32 numbers (bit 30) always reach the supervisor
    assert bpf.run(code, 0x40000000 | 39, X86) == TRACE


def test_large_sets_use_far_jumps_correctly():
    ai = ArchInterests(X86)
    chosen = {n for n in range(0, 1000) if n % 3 == 0 or n % 7 == 0}
    for n in chosen:
        ai.add(n)
    code = compile_filter([ai])
    assert len(code) // 8 < 4096
    assert all(bpf.run(code, n, X86) == (TRACE if n in chosen else ALLOW) for n in range(1100))


def test_far_jump_trampolines():
    # a conditional jump over more than 255 instructions needs a trampoline
    prog = [bpf.ld_abs(bpf.OFF_NR), bpf.jmp(bpf.BPF_JEQ, 7, "far", None)]
    prog += [bpf.ret(ALLOW)] * 300
    prog += [bpf.Label("far"), bpf.ret(TRACE)]
    code = bpf.assemble(prog)
    assert bpf.run(code, 7, X86) == TRACE and bpf.run(code, 8, X86) == ALLOW


def test_argument_predicates():
    ai = ArchInterests(X86)
    ai.add(1, (Predicate(0, 2),))                                # write(fd == 2, ...)
    ai.add(257, (Predicate(2, 1, mask=3),))                      # openat with O_WRONLY
    ai.add(257, (Predicate(2, 2, mask=3),))                      # ... or O_RDWR
    ai.add(62, (Predicate(1, 9, negate=True, bits=32),))          # kill(sig != SIGKILL)
    ai.add(9, (Predicate(0, 0x1_0000_0000),))                    # 64-bit compare
    code = compile_filter([ai])
    assert bpf.run(code, 1, X86, (2, 0, 0, 0, 0, 0)) == TRACE
    assert bpf.run(code, 1, X86, (1, 0, 0, 0, 0, 0)) == ALLOW
    assert bpf.run(code, 1, X86, (2 | 1 << 32, 0, 0, 0, 0, 0)) == ALLOW
    for flags, want in ((0, ALLOW), (1, TRACE), (2, TRACE), (0o101, TRACE), (0o100, ALLOW)):
        assert bpf.run(code, 257, X86, (0, 0, flags, 0, 0, 0)) == want, flags
    assert bpf.run(code, 62, X86, (1, 9, 0, 0, 0, 0)) == ALLOW
    assert bpf.run(code, 62, X86, (1, 15, 0, 0, 0, 0)) == TRACE
    assert bpf.run(code, 62, X86, (1, 9 | 5 << 32, 0, 0, 0, 0)) == ALLOW  # bits=32 ignores the top
    assert bpf.run(code, 9, X86, (0x1_0000_0000, 0, 0, 0, 0, 0)) == TRACE
    assert bpf.run(code, 9, X86, (0, 0, 0, 0, 0, 0)) == ALLOW
    # an unconditional interest absorbs the predicates
    ai.add(1)
    code = compile_filter([ai])
    assert bpf.run(code, 1, X86, (7, 0, 0, 0, 0, 0)) == TRACE


def test_predicate_python_side_agrees():
    p = Predicate(2, 1, mask=3)
    assert p.matches((0, 0, 0o101, 0, 0, 0)) and not p.matches((0, 0, 0, 0, 0, 0))
    assert Predicate(0, 9, negate=True).matches((8,)) and not Predicate(0, 9, negate=True).matches((9,))


def test_everything_interest():
    ai = ArchInterests(X86, everything=True)
    code = compile_filter([ai])
    assert bpf.run(code, 0, X86) == TRACE and bpf.run(code, 5000, X86) == TRACE


def _spawn_filtered(argv, code):
    """Run argv with a seccomp filter but no tracer; return the wait status."""
    pid, go, err = _native.spawn(os.fsencode(argv[0]), [os.fsencode(a) for a in argv],
                                 [b"PATH=/usr/bin:/bin"], None, code, 0)
    os.write(go, b"g")
    os.close(go)
    os.close(err)
    return os.waitpid(pid, 0)[1]


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 ABI test")
def test_kernel_enforces_compiled_filter(priv):
    tab = table("x86_64")
    ai = ArchInterests(X86)
    ai.add(tab.number("mkdirat"))
    ai.add(tab.number("mkdir"))
    code = compile_filter([ai, ArchInterests(AUDIT_ARCH_I386)], match_action=bpf.RET_ERRNO | errno.EROFS)

    def fn():
        st = _spawn_filtered(["/bin/mkdir", "/tmp/sysvisor-never-created"], code)
        return os.WEXITSTATUS(st), os.path.exists("/tmp/sysvisor-never-created")

    code_, exists = run_as(priv, fn)
    assert code_ == 1 and not exists


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="int 0x80 is x86 only")
def test_foreign_abi_is_killed_not_waved_through(progs, priv):
    """A filter compiled for x86_64 only: int 0x80 (i386 ABI) kills."""
    path = progs.path("int80")
    code = compile_filter([interests(X86, 39)], match_action=bpf.RET_ALLOW)
    st = run_as(priv, _spawn_filtered, [path], code)
    assert os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGSYS
