"""Per-architecture ABI facts: AUDIT_ARCH values, syscall register layouts.

The register layouts are used only where PTRACE_{GET,SET}_SYSCALL_INFO
cannot do the job: skipping a syscall with a chosen return value at entry
(one stop instead of two), and changing arguments or results on kernels
older than 6.16.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

NT_PRSTATUS = 1
NT_ARM_SYSTEM_CALL = 0x404

ARCH_NAMES = {
    AUDIT_ARCH_X86_64: "x86_64",
    AUDIT_ARCH_I386: "i386",
    AUDIT_ARCH_AARCH64: "aarch64",
}
AUDIT_ARCHES = {v: k for k, v in ARCH_NAMES.items()}


@dataclass(frozen=True)
class RegsLayout:
    """Where the syscall lives in one NT_PRSTATUS register set."""

    name: str
    fmt: str  # struct format of the whole set
    nr: int  # index of the syscall number (None when a separate regset holds it)
    ret: int
    args: tuple[int, ...]
    sp: int
    ip: int

    @property
    def size(self) -> int:
        return struct.calcsize(self.fmt)


_X86_64_FIELDS = (
    "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs "
    "eflags rsp ss fs_base gs_base ds es fs gs"
).split()
_X = {n: i for i, n in enumerate(_X86_64_FIELDS)}

# A 64-bit process: native syscalls and int 0x80 (i386 ABI) share the set.
X86_64 = RegsLayout(
    "x86_64", "<27Q", _X["orig_rax"], _X["rax"],
    tuple(_X[r] for r in ("rdi", "rsi", "rdx", "r10", "r8", "r9")), _X["rsp"], _X["rip"],
)
X86_64_INT80 = RegsLayout(
    "x86_64/int80", "<27Q", _X["orig_rax"], _X["rax"],
    tuple(_X[r] for r in ("rbx", "rcx", "rdx", "rsi", "rdi", "rbp")), _X["rsp"], _X["rip"],
)
_I386_FIELDS = "ebx ecx edx esi edi ebp eax ds es fs gs orig_eax eip cs eflags esp ss".split()
_I = {n: i for i, n in enumerate(_I386_FIELDS)}
# A 32-bit process traced from a 64-bit supervisor sees the 32-bit set.
I386 = RegsLayout(
    "i386", "<17I", _I["orig_eax"], _I["eax"],
    tuple(_I[r] for r in ("ebx", "ecx", "edx", "esi", "edi", "ebp")), _I["esp"], _I["eip"],
)
# aarch64: x0..x30, sp, pc, pstate. The number is in x8 but changing it
# needs NT_ARM_SYSTEM_CALL; x0 is both the first argument and the result.
AARCH64 = RegsLayout("aarch64", "<34Q", 8, 0, (0, 1, 2, 3, 4, 5), 31, 32)


def layout_for(audit_arch: int, regset_size: int) -> RegsLayout:
    """The layout of a register set of `regset_size` bytes fetched while the
    tracee was in a syscall of `audit_arch`."""
    if audit_arch == AUDIT_ARCH_AARCH64:
        return AARCH64
    if regset_size == I386.size:
        return I386
    if audit_arch == AUDIT_ARCH_I386:
        return X86_64_INT80
    return X86_64


def to_signed(value: int, bits: int = 64) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value
