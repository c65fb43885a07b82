"""Build script: compiles _speedups/*.pyx into websockets_fast._speedups.*.

The compiled modules are optional. When Cython or a C compiler is missing,
or on interpreters other than CPython (PyPy), or when the environment sets
WEBSOCKETS_FAST_NO_EXTENSIONS=1, the package installs without them and runs
on its pure-Python twins. One warning says so at build time.
"""

import glob
import os
import platform
import sys
import warnings

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))

FALLBACK_WARNING = (
    "websockets_fast: the compiled speedups could not be built ({reason}); "
    "installing the pure-Python implementation, which is correct but slower."
)


def _warn(reason):
    message = FALLBACK_WARNING.format(reason=reason)
    # Both channels: pip shows stderr with -v, and warnings show in build logs.
    sys.stderr.write("\n" + "*" * 72 + "\n" + message + "\n" + "*" * 72 + "\n")
    warnings.warn(message)


def _wants_extensions():
    if os.environ.get("WEBSOCKETS_FAST_NO_EXTENSIONS", "") not in ("", "0"):
        return "WEBSOCKETS_FAST_NO_EXTENSIONS is set"
    if platform.python_implementation() != "CPython":
        return "not CPython"
    return None


def _extensions():
    reason = _wants_extensions()
    if reason is not None:
        _warn(reason)
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not installed")
        return []
    from setuptools import Extension

    sources = sorted(glob.glob(os.path.join("_speedups", "*.pyx")))
    extensions = [
        Extension(
            "websockets_fast._speedups." + os.path.splitext(os.path.basename(path))[0],
            [path],
            extra_compile_args=[] if sys.platform == "win32" else ["-O3"],
        )
        for path in sources
    ]
    return cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        },
        include_path=["_speedups"],
        quiet=True,
    )


class OptionalBuildExt(build_ext):
    """Never let a failed compilation fail the installation."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...
            _warn(f"build_ext failed: {exc}")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            _warn(f"{ext.name} failed to compile: {exc}")


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
