"""Every benchmark script starts: its imports work and ``--help`` exits 0."""
import subprocess
import sys
from pathlib import Path

import pytest

# the scripts; a module named "_x.py" is imported by them, not run
BENCHMARKS = sorted(p for p in (Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py")
                    if not p.name.startswith("_"))

# One interpreter runs every script's --help (the imports they share load once).
_HELP_ALL = """
import os, runpy, sys
failed = []
sys.path.insert(0, os.path.dirname(sys.argv[1]))  # as when a script runs: its folder
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            failed.append(f"{path}: exit status {exc.code}")
    else:
        failed.append(f"{path}: --help did not exit")
assert not failed, failed
"""


def test_there_are_benchmarks():
    assert len(BENCHMARKS) >= 10


def test_every_benchmark_script_help_runs():
    if not BENCHMARKS:
        pytest.skip("no benchmarks folder")
    done = subprocess.run([sys.executable, "-c", _HELP_ALL, *map(str, BENCHMARKS)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
