# The C part (sysvisor._native) is built with the system compiler by
# `pip install .`; everything else is in pyproject.toml.
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sysvisor._native",
            sources=["src/sysvisor/_native.c"],
            extra_compile_args=["-O2", "-Wall", "-Wno-missing-field-initializers"],
        )
    ]
)
