# The C part (sysvisor._native) is built with the system compiler by
# `pip install .`; everything else is in pyproject.toml.
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sysvisor._native",
            sources=["src/sysvisor/_native.c"],
            extra_compile_args=["-O2", "-Wall", "-Wno-missing-field-initializers"],
        ),
        # the supervisor's side of the in-process trace ring (native/svring.c)
        Extension(
            "sysvisor.compiled._svring",
            sources=["src/sysvisor/compiled/_svring.c", "native/svring.c"],
            include_dirs=["native"],
            extra_compile_args=["-O2", "-Wall", "-Wno-missing-field-initializers"],
        ),
    ]
)
