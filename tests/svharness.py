"""ctypes side of tests/svharness.c: build the evaluator and the ring into a
shared library with gcc, and drive it as the shim would (tests of
sysvisor.compiled: test_compiled.py, test_ring.py)."""
from __future__ import annotations

import ctypes
import mmap
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NATIVE = os.path.join(ROOT, "native")
SOURCES = [os.path.join(NATIVE, "svpolicy.c"), os.path.join(NATIVE, "svring.c"),
           os.path.join(HERE, "svharness.c")]
# what the shim must build the evaluator with (docs/design.md)
EVAL_CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-ffreestanding",
               "-fno-builtin", "-fno-stack-protector"]

SV_RUN, SV_RETURN, SV_SUPERVISOR = 0, 1, 2
SV_F_EXIT_HOOKS, SV_F_INJECTED = 0x1, 0x2
SV_CTX_SIZE, SV_PENDING_SIZE, SV_PENDING_MIN = 512, 32768, 512


class SvCall(ctypes.Structure):
    _fields_ = [("nr", ctypes.c_long), ("args", ctypes.c_ulong * 6), ("ip", ctypes.c_ulong),
                ("sp", ctypes.c_ulong), ("pid", ctypes.c_int), ("tid", ctypes.c_int),
                ("arch", ctypes.c_uint)]


def build(outdir: str) -> str:
    """Compile the evaluator (with the shim's flags) and the harness into
    outdir/libsvtest.so; returns its path."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise FileNotFoundError("gcc")
    objs = []
    for src, flags in ((SOURCES[0], EVAL_CFLAGS), (SOURCES[1], EVAL_CFLAGS),
                       (SOURCES[2], ["-std=gnu11", "-O2", "-Wall", "-fPIC", "-pthread"])):
        obj = os.path.join(outdir, os.path.basename(src) + ".o")
        subprocess.run([gcc, *flags, "-I", NATIVE, "-c", src, "-o", obj], check=True,
                       capture_output=True, text=True)
        objs.append(obj)
    lib = os.path.join(outdir, "libsvtest.so")
    subprocess.run([gcc, "-shared", "-pthread", "-o", lib, *objs], check=True, capture_output=True,
                   text=True)
    os.chmod(lib, 0o755)
    return lib


def build_shim_adapter(outdir: str, pending: int = SV_PENDING_SIZE) -> str:
    """native/svpolicy_shim.c (the shim's interface on main) with the
    evaluator, as the shim links them (-DSV_RENAME, the shim's
    SV_PENDING_SIZE), exported for ctypes."""
    gcc = shutil.which("gcc")
    lib = os.path.join(outdir, f"libsvshim-{pending}.so")
    srcs = [os.path.join(NATIVE, n) for n in ("svpolicy_shim.c", "svpolicy.c", "svring.c")]
    subprocess.run([gcc, *EVAL_CFLAGS, "-DSV_RENAME", f"-DSV_PENDING_SIZE={pending}", "-DSVS_API=",
                    "-I", NATIVE, "-shared", "-o", lib, *srcs], check=True, capture_output=True,
                   text=True)
    os.chmod(lib, 0o755)
    return lib


class ShimCtx(ctypes.Structure):
    """native/shim.h's struct sv_ctx (on main)."""
    _fields_ = [("raw_syscall", ctypes.c_void_p), ("blob", ctypes.c_void_p),
                ("blob_len", ctypes.c_size_t), ("proc_region", ctypes.c_void_p),
                ("proc_region_len", ctypes.c_size_t)]


def undefined_symbols(outdir: str) -> list[str]:
    """The symbols the evaluator's objects need from outside themselves."""
    objs = [os.path.join(outdir, os.path.basename(s) + ".o") for s in SOURCES[:2]]
    merged = os.path.join(outdir, "evaluator.o")
    subprocess.run(["ld", "-r", "-o", merged, *objs], check=True, capture_output=True)
    out = subprocess.run(["nm", "-u", merged], check=True, capture_output=True, text=True).stdout
    return [ln.split()[-1] for ln in out.splitlines() if ln.strip()]


class Lib:
    def __init__(self, path: str):
        self.dll = d = ctypes.CDLL(path)
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        d.h_ctx_init.argtypes = [vp, vp, sz, vp, sz, sz]
        d.h_ctx_init_tame.argtypes = [vp, vp, sz, vp, sz, sz]
        d.sv_ctx_fork.argtypes = [vp, sz, vp, vp, sz]
        d.sv_entry.argtypes = [vp, ctypes.POINTER(SvCall), ctypes.POINTER(ctypes.c_long), vp]
        d.sv_resume.argtypes = [vp, ctypes.POINTER(SvCall), ctypes.POINTER(ctypes.c_long), vp,
                                ctypes.c_int, ctypes.c_uint]
        d.sv_exit.argtypes = [vp, ctypes.POINTER(SvCall), ctypes.POINTER(ctypes.c_long), vp]
        d.sv_pending_group.argtypes = [vp]
        d.sv_pending_group.restype = ctypes.c_uint
        d.sv_strerror.restype = ctypes.c_char_p
        d.sv_region_size.argtypes = [vp, sz, sz, sz]
        d.sv_region_size.restype = sz
        d.h_call.argtypes = [vp, ctypes.POINTER(SvCall), ctypes.POINTER(ctypes.c_long), ctypes.c_int,
                             ctypes.POINTER(ctypes.c_int), sz]
        d.h_syscall.argtypes = [ctypes.POINTER(SvCall)]
        d.h_syscall.restype = ctypes.c_long
        d.h_threads.argtypes = [vp, ctypes.c_long, ctypes.c_uint, ctypes.c_int, ctypes.c_int, vp, sz]
        d.h_die_mid_record.argtypes = [vp, sz, ctypes.c_int]
        d.h_poke_all.argtypes = [vp, ctypes.c_uint, sz]
        d.h_time_calls.argtypes = [vp, ctypes.POINTER(SvCall), ctypes.c_long, sz]
        d.h_time_calls.restype = ctypes.c_double

    def evaluator(self, blob: bytes, ring_bytes: int = 1 << 20, region_size: int = 0,
                  pending: int = SV_PENDING_SIZE) -> "Evaluator":
        return Evaluator(self, blob, ring_bytes, region_size, pending)

    def strerror(self, err: int) -> str:
        return self.dll.sv_strerror(err).decode()


def _addr(buf) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


class Evaluator:
    """One process's evaluator: ctx, blob and a memfd region (shared with a
    drainer and with fork children)."""

    def __init__(self, lib: Lib, blob: bytes, ring_bytes: int = 1 << 20, region_size: int = 0,
                 pending: int = SV_PENDING_SIZE):
        self.lib = lib
        self.pending = pending  # what the "shim" gives per call: SV_PENDING_SIZE or down to MIN
        self.blob = ctypes.create_string_buffer(bytes(blob), len(blob))
        self.blob_len = len(blob)
        size = region_size or lib.dll.sv_region_size(self.blob, len(blob), ring_bytes, pending) or (1 << 20)
        self.fd = os.memfd_create("sysvisor-ring", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, size)
        self.region = mmap.mmap(self.fd, size)
        self.region_size = size
        os.close(self.fd)  # the mapping keeps the memory
        self.ctx = ctypes.create_string_buffer(SV_CTX_SIZE)
        self.err = lib.dll.h_ctx_init(self.ctx, self.blob, len(blob), _addr(self.region), size,
                                      pending)

    def reinit(self, blob: bytes, tame: bool = False) -> int:
        """sv_ctx_init again, with another blob, on the same region; tame:
        the raw function makes no signal and no sleep (for fuzzing)."""
        self.blob = ctypes.create_string_buffer(bytes(blob), max(len(blob), 1))
        self.blob_len = len(blob)
        init = self.lib.dll.h_ctx_init_tame if tame else self.lib.dll.h_ctx_init
        self.err = init(self.ctx, self.blob, len(blob), _addr(self.region), self.region_size,
                        self.pending)
        return self.err

    def call(self, nr, args=(), arch=0xC000003E, ret=0, run_real=False, pid=None, tid=None):
        """(verdict, result, the call after the evaluator, crossings)."""
        c = SvCall(nr, (ctypes.c_ulong * 6)(*[a & 0xFFFFFFFFFFFFFFFF for a in list(args) + [0] * (6 - len(args))]),
                   0x401000, 0x7FFC0000, os.getpid() if pid is None else pid,
                   os.getpid() if tid is None else tid, arch)
        r = ctypes.c_long(ret)
        crossings = ctypes.c_int(0)
        v = self.lib.dll.h_call(self.ctx, ctypes.byref(c), ctypes.byref(r), int(run_real),
                                ctypes.byref(crossings), self.pending)
        return v, r.value, c, crossings.value

    def threads(self, nr, nthreads, n, hits=None, arch=0xC000003E):
        """nthreads threads make n calls of nr each (tests/svharness.c h_threads)."""
        return self.lib.dll.h_threads(self.ctx, nr, arch, nthreads, n, hits, self.pending)

    def time_calls(self, c, n):
        return self.lib.dll.h_time_calls(self.ctx, ctypes.byref(c), n, self.pending)

    def steps(self):
        """A pending area and the raw entry/resume/exit calls, for tests
        that play the supervisor."""
        return Steps(self)


class Steps:
    def __init__(self, ev: Evaluator):
        self.ev = ev
        self.d = ev.lib.dll
        self.pending = ctypes.create_string_buffer(SV_PENDING_SIZE)
        self.ret = ctypes.c_long(0)

    def make(self, nr, args=(), arch=0xC000003E):
        self.c = SvCall(nr, (ctypes.c_ulong * 6)(*(list(args) + [0] * (6 - len(args)))), 0x401000,
                        0x7FFC0000, os.getpid(), os.getpid(), arch)
        return self.c

    def entry(self):
        return self.d.sv_entry(self.ev.ctx, ctypes.byref(self.c), ctypes.byref(self.ret), self.pending)

    def resume(self, verdict=SV_RUN, flags=0):
        return self.d.sv_resume(self.ev.ctx, ctypes.byref(self.c), ctypes.byref(self.ret),
                                self.pending, verdict, flags)

    def exit(self, ret=None):
        if ret is not None:
            self.ret.value = ret
        return self.d.sv_exit(self.ev.ctx, ctypes.byref(self.c), ctypes.byref(self.ret), self.pending)

    def group(self):
        return self.d.sv_pending_group(self.pending)
