"""Check .github/workflows/wheels.yml against itself and against
pyproject.toml's [tool.cibuildwheel], since GitHub Actions cannot run here.

    python tests/check_workflow.py

Needs PyYAML, check-jsonschema and cibuildwheel (Python 3.11+; tests/run.sh
installs them in a venv of their own). Checks:

- the file parses, and check-jsonschema finds it valid against its copy of
  the GitHub workflow schema;
- the cibuildwheel installed is the one the workflow pins;
- pyproject.toml's [tool.cibuildwheel] is valid against cibuildwheel's own
  schema, and requires the compiled backend in the wheels' tests;
- the wheels jobs, each with its CIBW_ARCHS and CIBW_SKIP, build every
  identifier that cibuildwheel --print-build-identifiers lists for the
  configuration (Linux, macOS, Windows), each in one job only.

Prints what it found and exits 1 on any problem.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import cibuildwheel
import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOW = os.path.join(ROOT, ".github", "workflows", "wheels.yml")
PLATFORMS = {"ubuntu": "linux", "macos": "macos", "windows": "windows"}


def identifiers(platform: str, **env: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform", platform, ROOT],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.split()


def main() -> int:
    problems = []
    with open(WORKFLOW, encoding="utf-8") as file:
        workflow = yaml.safe_load(file)
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", WORKFLOW],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        problems.append(f"check-jsonschema: {done.stdout.strip()} {done.stderr.strip()}")

    pinned = workflow["env"]["CIBUILDWHEEL_VERSION"]
    if cibuildwheel.__version__ != pinned:
        problems.append(f"cibuildwheel {cibuildwheel.__version__} installed, the workflow pins {pinned}")

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
        config = tomllib.load(file)["tool"]["cibuildwheel"]
    schema_path = os.path.join(os.path.dirname(cibuildwheel.__file__), "resources", "cibuildwheel.schema.json")
    with open(schema_path, encoding="utf-8") as file:
        schema = json.load(file)
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError as exc:
        problems.append(f"[tool.cibuildwheel]: {exc.message}")
    if config.get("test-environment", {}).get("WEBSOCKETS_FAST_REQUIRE_COMPILED") != "1":
        problems.append("[tool.cibuildwheel] test-environment does not set WEBSOCKETS_FAST_REQUIRE_COMPILED=1")

    expected = [ident for platform in PLATFORMS.values() for ident in identifiers(platform)]
    built: dict[str, str] = {}
    for job in workflow["jobs"]["wheels"]["strategy"]["matrix"]["include"]:
        platform = PLATFORMS[job["os"].split("-")[0]]
        found = identifiers(platform, CIBW_ARCHS=job["archs"], CIBW_SKIP=job["skip"])
        print(f"  {job['name']:<18} on {job['os']:<16} {len(found)} wheels")
        if not found:
            problems.append(f"job {job['name']!r} builds nothing")
        for ident in found:
            if ident in built:
                problems.append(f"{ident} built by both {built[ident]!r} and {job['name']!r}")
            built[ident] = job["name"]
    missing = sorted(set(expected) - set(built))
    if missing:
        problems.append(f"configured but built by no job: {', '.join(missing)}")

    print(f"wheels.yml: {len(built)} of the {len(expected)} configured wheels, "
          f"cibuildwheel {cibuildwheel.__version__}, schema valid" if not problems else "wheels.yml: problems")
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
