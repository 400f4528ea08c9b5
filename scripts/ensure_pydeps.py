#!/usr/bin/env python3
"""Install the given requirements files with pip, unless all are satisfied already.

    python3 scripts/ensure_pydeps.py requirements.txt requirements-test.txt

Quiet when nothing is missing (then pip is not even started, so it works offline).
"""

import subprocess
import sys
from importlib import metadata

try:
    from packaging.requirements import Requirement
except ImportError:  # pip vendors it
    from pip._vendor.packaging.requirements import Requirement


def read_requirements(path):
    reqs = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            reqs.append(Requirement(line))
    return reqs


def missing(reqs):
    out = []
    for req in reqs:
        if req.marker and not req.marker.evaluate():
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(str(req))
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            out.append(f"{req} (have {version})")
    return out


def main(files):
    reqs = [r for f in files for r in read_requirements(f)]
    todo = missing(reqs)
    if not todo:
        return 0
    print("Installing Python packages: " + ", ".join(todo), flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for f in files:
        cmd += ["-r", f]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-4000:])
        hint = ""
        if "externally-managed-environment" in proc.stdout:
            hint = (
                " This Python is managed by the system: install these packages "
                "another way (or set PIP_BREAK_SYSTEM_PACKAGES=1), then run this again."
            )
        print(f"pip could not install {', '.join(files)}.{hint}", file=sys.stderr)
        return 1
    still = missing(reqs)
    if still:
        print("Still missing after pip install: " + ", ".join(still), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
