"""Check the built distributions: what an sdist and a wheel must hold, and what
they must not.

    python tests/check_dist.py [--auditwheel] DIST_FILE...

Each DIST_FILE is an sdist (.tar.gz) or a wheel (.whl). What they must hold
is worked out from this checkout (the folder above tests/), so that a new
source file is checked without editing this script:

- the sdist: everything a build needs (setup.py, pyproject.toml, MANIFEST.in,
  README.md, LICENSE, the _speedups sources .pyx/.pxd/.h, every .py of the
  package, among them the single-source modules that setup.py compiles) and
  what its tests need (tests/, bench/, compliance/); no build output (.so,
  .pyd, .o, generated .c, __pycache__, build/, dist/, an egg-info other than
  the metadata folder that setuptools writes into every sdist);
- a wheel: every .py of the package, py.typed and the .pyi stubs when the
  package has them, one compiled module per _speedups/*.pyx and per
  setup.py SINGLE_SOURCE entry; nothing outside the package and its
  .dist-info (no Cython sources, no generated .c, no libraries grafted in by
  a repair tool);
- with --auditwheel (Linux): `auditwheel show` on each wheel reports a
  manylinux tag (musllinux for a musllinux wheel) and no external library
  beyond those its policy allows.

Prints one line per file and exits 1 with the list of problems if any.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "websockets_fast"

SDIST_TOP_FILES = ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE", "PKG-INFO")
# Source-tree patterns whose every match must be in the sdist.
SDIST_SOURCES = (
    "_speedups/*.pyx",
    "_speedups/*.pxd",
    "_speedups/*.pxi",
    "_speedups/*.h",
    PACKAGE + "/**/*.py",
    PACKAGE + "/**/*.pyi",
    PACKAGE + "/py.typed",
    "tests/**/*.py",
    "tests/**/*.html",
    "tests/stubtest_allowlist.txt",
    "bench/*.py",
    "compliance/*.py",
)
BUILD_OUTPUT = ("*.so", "*.pyd", "*.o", "*.obj", "*.c", "*.pyc", "*.pyo")
# setuptools writes its metadata folder into every sdist (its SOURCES.txt is
# the file list of a build from the sdist; MANIFEST.in cannot prune it): the
# one allowed egg-info, at the top, with setuptools' files only.
SDIST_EGG_INFO = PACKAGE + ".egg-info/"
SDIST_EGG_INFO_FILES = ("PKG-INFO", "SOURCES.txt", "dependency_links.txt", "requires.txt", "top_level.txt")
BUILD_FOLDERS = ("__pycache__", "build", "dist", ".venv")
WHEEL_FORBIDDEN = ("*.pyx", "*.pxd", "*.pxi", "*.c", "*.h", "*.o", "*.obj", "*.pyc", "*.pyo")


def source_files(pattern: str) -> list[str]:
    """The files of this checkout that match ``pattern`` (relative, with /)."""
    import glob

    found = glob.glob(os.path.join(ROOT, pattern), recursive=True)
    return sorted(
        os.path.relpath(path, ROOT).replace(os.sep, "/")
        for path in found
        if os.path.isfile(path) and "__pycache__" not in path
    )


def single_source_modules() -> list[str]:
    """The keys of setup.py's SINGLE_SOURCE, read without running setup.py."""
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as file:
        tree = ast.parse(file.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "SINGLE_SOURCE" for target in node.targets
        ):
            return sorted(ast.literal_eval(node.value))
    raise SystemExit("setup.py has no SINGLE_SOURCE")


def compiled_modules() -> list[str]:
    stems = [os.path.splitext(os.path.basename(path))[0] for path in source_files("_speedups/*.pyx")]
    return sorted(stems + single_source_modules())


def matches(path: str, patterns) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(path, pattern) for pattern in patterns)


def check_sdist(path: str) -> list[str]:
    with tarfile.open(path) as archive:
        members = [member.name for member in archive.getmembers() if member.isfile()]
    # Every member sits under one top folder, <name>-<version>/.
    tops = {member.split("/", 1)[0] for member in members}
    if len(tops) != 1:
        return [f"more than one top folder: {sorted(tops)}"]
    names = {member.split("/", 1)[1] for member in members if "/" in member}
    problems = [f"missing {name}" for name in SDIST_TOP_FILES if name not in names]
    for pattern in SDIST_SOURCES:
        problems += [f"missing {name}" for name in source_files(pattern) if name not in names]
    for name in sorted(names):
        parts = name.split("/")
        if name.startswith(SDIST_EGG_INFO) and name[len(SDIST_EGG_INFO) :] in SDIST_EGG_INFO_FILES:
            continue
        if matches(name, BUILD_OUTPUT) or any(part.endswith(".egg-info") for part in parts):
            problems.append(f"build output: {name}")
        elif any(part in BUILD_FOLDERS for part in parts[:-1]):
            problems.append(f"build folder: {name}")
    return problems


def wheel_platform(path: str) -> str:
    # name-version(-build)?-python-abi-platform.whl
    return os.path.basename(path)[: -len(".whl")].split("-")[-1]


def check_wheel(path: str) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    problems = []
    dist_info = {name.split("/", 1)[0] for name in names if name.split("/", 1)[0].endswith(".dist-info")}
    if len(dist_info) != 1:
        problems.append(f"expected one .dist-info folder, found {sorted(dist_info)}")
    for pattern in (PACKAGE + "/**/*.py", PACKAGE + "/**/*.pyi", PACKAGE + "/py.typed"):
        problems += [f"missing {name}" for name in source_files(pattern) if name not in names]
    if not any(name.endswith(".dist-info/licenses/LICENSE") or name.endswith(".dist-info/LICENSE") for name in names):
        problems.append("missing the LICENSE in .dist-info")
    suffix = ".pyd" if wheel_platform(path).startswith("win") else ".so"
    for module in compiled_modules():
        prefix = f"{PACKAGE}/_speedups/{module}."
        if not any(name.startswith(prefix) and name.endswith(suffix) for name in names):
            problems.append(f"missing the compiled module {prefix}*{suffix}")
    for name in sorted(names):
        top = name.split("/", 1)[0]
        if top != PACKAGE and top not in dist_info:
            problems.append(f"outside the package: {name}")
        elif matches(name, WHEEL_FORBIDDEN) or "/__pycache__/" in name:
            problems.append(f"not for a wheel: {name}")
    return problems


def auditwheel_report(path: str) -> dict:
    """`auditwheel show`'s findings: JSON from auditwheel 6.8 on, else read
    from its text (older releases, the only ones for Python 3.9)."""
    command = [sys.executable, "-m", "auditwheel", "show"]
    done = subprocess.run(command + ["--json", path], capture_output=True, text=True, timeout=300)
    if done.returncode == 0:
        return json.loads(done.stdout)
    if "--json" not in done.stderr:
        raise RuntimeError(f"auditwheel show failed: {done.stderr.strip()}")
    done = subprocess.run(command + [path], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"auditwheel show failed: {done.stderr.strip()}")
    # It wraps its sentences: read them as one line.
    text = " ".join(done.stdout.split())
    tag = re.search(r'consistent with the following platform tag: "([^"]+)"', text)
    external = re.search(r"external shared libraries are required by the wheel: (\{.*?\})", text)
    return {
        "overall_tag": tag.group(1) if tag else "",
        "external_libs": json.loads(external.group(1)) if external else {},
    }


def check_auditwheel(path: str) -> tuple[list[str], str]:
    try:
        report = auditwheel_report(path)
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        return [str(exc)], ""
    family = "musllinux_" if "musllinux" in wheel_platform(path) else "manylinux_"
    tag = report.get("overall_tag", "")
    problems = []
    if not tag.startswith(family):
        problems.append(f"auditwheel: platform tag {tag or '(none)'}, expected {family}*")
    if report.get("external_libs"):
        problems.append(f"auditwheel: external libraries {sorted(report['external_libs'])}")
    return problems, tag


def main(argv: list[str]) -> int:
    auditwheel = "--auditwheel" in argv
    paths = [arg for arg in argv if arg != "--auditwheel"]
    if not paths:
        print(__doc__)
        return 2
    failed = False
    for path in paths:
        name = os.path.basename(path)
        if path.endswith(".tar.gz"):
            problems, note = check_sdist(path), ""
        elif path.endswith(".whl"):
            problems, note = check_wheel(path), ""
            if auditwheel:
                more, tag = check_auditwheel(path)
                problems += more
                note = f"; auditwheel: consistent with {tag}, no external libraries" if not more else ""
        else:
            problems, note = [f"neither an sdist (.tar.gz) nor a wheel (.whl): {path}"], ""
        if problems:
            failed = True
            print(f"{name}: {len(problems)} problem(s)")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"{name}: ok{note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
