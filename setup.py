# The C parts are built with the system compiler by `pip install .`:
#  - sysvisor._native, a Python extension (the ptrace/seccomp/unotify hot path);
#  - sysvisor/_shim_sud.so and sysvisor/_shim_preload.so, plain shared objects
#    that sysvisor LD_PRELOADs into programs (methods sud and preload). They are
#    never imported and do not link libpython; the sud one links nothing at all
#    (it runs in a SIGSYS handler, where libc must not be called).
# Everything else is in pyproject.toml.
import platform

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SHIM_CFLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fPIC", "-fvisibility=hidden",
               "-fno-stack-protector", "-fno-builtin", "-fno-tree-loop-distribute-patterns",
               "-mgeneral-regs-only", "-ftls-model=initial-exec", "-fcf-protection=none",
               "-U_FORTIFY_SOURCE"]
# the shim's core, with the evaluator of compiled layers linked in: its strong
# sv_entry/sv_exit (native/svpolicy_shim.c) replace the core's weak
# "every call crosses" defaults; a small pending area per call, since the
# SIGSYS handler runs on the program's stack (native/svpolicy.h)
SHIM_CORE = ["native/shim_core.c", "native/shim_tramp_x86_64.c", "native/svpolicy_shim.c",
             "native/svpolicy.c", "native/svring.c"]
SHIM_CFLAGS += ["-DSV_RENAME", "-DSV_PENDING_SIZE=512"]


class Shim(Extension):
    """A plain shared object, not a Python module."""


class BuildExt(build_ext):
    def get_ext_filename(self, fullname):
        if isinstance(self.ext_map.get(fullname), Shim):
            return fullname.replace(".", "/") + ".so"
        return super().get_ext_filename(fullname)

    def get_libraries(self, ext):
        if isinstance(ext, Shim):
            return list(ext.libraries)
        return super().get_libraries(ext)

    def get_export_symbols(self, ext):
        if isinstance(ext, Shim):
            return []
        return super().get_export_symbols(ext)

    def build_extension(self, ext):
        if isinstance(ext, Shim) and platform.machine() != "x86_64":
            # the in-process methods are x86_64 only: they report it at run time
            print(f"skipping {ext.name}: the in-process shim is x86_64 only")
            return
        super().build_extension(ext)


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "sysvisor._native",
            sources=["src/sysvisor/_native.c"],
            extra_compile_args=["-O2", "-Wall", "-Wno-missing-field-initializers"],
        ),
        Shim(
            "sysvisor._shim_sud",
            sources=SHIM_CORE + ["native/shim_sud.c"],
            extra_compile_args=SHIM_CFLAGS + ["-ffreestanding", "-DSV_FREESTANDING"],
            extra_link_args=["-nostdlib", "-Wl,-z,now", "-Wl,-z,noexecstack", "-Wl,--no-undefined"],
        ),
        Shim(
            "sysvisor._shim_preload",
            sources=SHIM_CORE + ["native/preload.c", "native/preload_wrappers.c"],
            extra_compile_args=SHIM_CFLAGS,
            extra_link_args=["-Wl,-z,now", "-Wl,-z,noexecstack"],
        ),
        # the supervisor's side of the in-process trace ring (native/svring.c)
        Extension(
            "sysvisor.compiled._svring",
            sources=["src/sysvisor/compiled/_svring.c", "native/svring.c"],
            include_dirs=["native"],
            extra_compile_args=["-O2", "-Wall", "-Wno-missing-field-initializers"],
        ),
    ],
)
