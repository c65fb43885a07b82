"""Build script: compiles the speedups into websockets_fast._speedups.*.

Two kinds of compiled modules:
- _speedups/*.pyx: Cython sources with a hand-written pure-Python twin in
  websockets_fast/_pyspeedups/ (mask, utf8, frames, http, ringbuffer);
- SINGLE_SOURCE: modules of the package itself (the per-message path),
  compiled from their own .py file in Cython's pure-Python mode, with the C
  types of an augmenting _speedups/<name>.pxd. The .py file stays the one
  source; it runs as it is on the pure-Python backend.

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


# Compiled module name -> its .py source. Each has _speedups/<name>.pxd.
SINGLE_SOURCE = {
    "protocol": "websockets_fast/protocol.py",
    "assembler": "websockets_fast/assembler.py",
    "asyncio_connection": "websockets_fast/asyncio/connection.py",
    "sync_connection": "websockets_fast/sync/connection.py",
    "tls": "websockets_fast/asyncio/tls.py",
    # Not per-message, but the same rule: one source, no twin (issue 13).
    "ringbuffer": "websockets_fast/_pyspeedups/ringbuffer.py",
}


def _stage_pxd():
    """
    Cython finds a module's augmenting .pxd by the module's full name: copy
    _speedups/*.pxd to build/cython-include/websockets_fast/_speedups/, so
    that websockets_fast._speedups.<name> (compiled from another folder's
    .py) gets its .pxd, and the compiled modules can cimport each other.
    """
    import shutil

    root = os.path.join("build", "cython-include")
    target = os.path.join(root, "websockets_fast", "_speedups")
    os.makedirs(target, exist_ok=True)
    for folder in (os.path.join(root, "websockets_fast"), target):
        open(os.path.join(folder, "__init__.pxd"), "w").close()
    for path in glob.glob(os.path.join("_speedups", "*.pxd")):
        shutil.copyfile(path, os.path.join(target, os.path.basename(path)))
    return root


def _drop_stale_c(sources):
    """
    Delete the generated C of every module older than a _speedups/*.pxd, so
    that cythonize regenerates it. Cython tracks dependencies by file name:
    the augmenting .pxd of a module compiled from another folder's .py, and
    the .pxd files it cimports through the staged include path, escape it,
    and an in-place rebuild after a change to a .pxd alone kept the old C.
    """
    pxds = glob.glob(os.path.join("_speedups", "*.pxd"))
    if not pxds:
        return
    newest = max(os.path.getmtime(path) for path in pxds)
    for source in sources:
        generated = os.path.splitext(source)[0] + ".c"
        if os.path.exists(generated) and os.path.getmtime(generated) < newest:
            os.remove(generated)


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

    def extension(name, path):
        return Extension(
            "websockets_fast._speedups." + name,
            [path],
            extra_compile_args=[] if sys.platform == "win32" else ["-O3"],
        )

    include_path = ["_speedups", _stage_pxd()]
    _drop_stale_c(glob.glob(os.path.join("_speedups", "*.pyx")) + list(SINGLE_SOURCE.values()))
    twinned = [
        extension(os.path.splitext(os.path.basename(path))[0], path)
        for path in sorted(glob.glob(os.path.join("_speedups", "*.pyx")))
    ]
    single_source = [extension(name, path) for name, path in SINGLE_SOURCE.items()]
    try:
        return _cythonize(cythonize, twinned, single_source, include_path)
    except Exception as exc:  # a Cython too old or too new for our sources
        _warn(f"Cython failed: {exc}")
        return []


def _cythonize(cythonize, twinned, single_source, include_path):
    return cythonize(
        twinned,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        },
        include_path=include_path,
        quiet=True,
    ) + cythonize(
        single_source,
        # Python source: Python's semantics (negative indexes, bounds
        # checks, division), only faster. annotation_typing=False: the
        # annotations are for type checkers; the C types come from the .pxd
        # alone (Cython would otherwise make `x: int` a C long, `x: str` an
        # exact-type check, and so on).
        compiler_directives={"language_level": "3", "embedsignature": True, "annotation_typing": False},
        include_path=include_path,
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
