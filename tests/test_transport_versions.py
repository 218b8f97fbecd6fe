"""The transport suite (tests/transport, stdlib unittest) under every CPython 3.8-3.13 that pyenv holds.

Each interpreter runs it with ``-I`` from its own temporary directory holding only a copy of
nexus_micro.py and the suite's files, so nothing installed, no site-packages and no checkout
can stand in for the copy under test. The runs go in parallel (they mostly wait on sockets).
This is what catches a regression that only one interpreter shows: CPython 3.13's
``HTTPResponse.read1()`` closing the connection at the end of a Content-Length body broke
nearly every call there while 3.8-3.12 passed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "tests" / "transport"
MINORS = range(8, 14)  # CPython 3.8 to 3.13
RUN_TIMEOUT = 240  # seconds per interpreter; a healthy run takes about 20 (a broken transport can take minutes)


def pyenv_interpreters() -> dict[str, tuple[int, str]] | None:
    """``{version: (minor, python3)}`` for the CPython 3.8-3.13 under ``pyenv root``; None without pyenv."""
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False).stdout.strip()
    versions = Path(root or Path.home() / ".pyenv", "versions")
    if not versions.is_dir():
        return None
    found = {}
    for exe in versions.glob("3.*/bin/python3"):
        version = exe.parent.parent.name
        parts = version.split(".")
        if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) in MINORS:
            found[version] = (int(parts[1]), str(exe))
    return dict(sorted(found.items(), key=lambda item: [int(p) if p.isdigit() else 0 for p in item[0].split(".")]))


def run_suite(python: str) -> tuple[dict | None, str]:
    """Run tests/transport/run.py under ``python -I`` in a fresh directory: (summary or None, stderr)."""
    with tempfile.TemporaryDirectory(prefix="nexus-transport-") as tmp:
        shutil.copytree(SUITE, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy(ROOT / "nexus_micro.py", tmp)
        try:
            proc = subprocess.run(
                [python, "-I", "run.py"], cwd=tmp, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            return None, f"did not finish within {RUN_TIMEOUT} s\n{exc.stderr or ''}"
    lines = proc.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1])
    except (IndexError, ValueError):
        return None, f"exit {proc.returncode}, no summary line\n{proc.stdout[-2000:]}\n{proc.stderr}"
    summary["exit"] = proc.returncode
    return summary, proc.stderr


def describe(version: str, summary: dict | None) -> str:
    if summary is None:
        return f"CPython {version}: no result"
    return (
        f"CPython {summary['python']}: {summary['tests']} tests, {summary['failures']} failures, "
        f"{summary['errors']} errors, {summary['skipped']} skipped, {summary['seconds']} s"
    )


def test_transport_suite_on_every_cpython() -> None:
    found = pyenv_interpreters()
    targets = found if found else {"running": (sys.version_info[1], sys.executable)}
    workers = min(len(targets), 6)  # waits on sockets dominate: six runs side by side fit two cores
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = dict(zip(targets, pool.map(run_suite, [exe for _, exe in targets.values()])))
    problems: list[str] = []
    for version, (summary, stderr) in results.items():
        print(describe(version, summary))
        passed = summary is not None and summary["exit"] == 0 and summary["tests"] > 0
        if not passed:
            failed = "\n    ".join(summary["failed"]) if summary else ""
            problems.append(f"{describe(version, summary)}\n    {failed}\n{stderr[-6000:]}")
    assert not problems, "the transport suite failed on:\n" + "\n".join(problems)
    if found is None:
        pytest.skip(f"pyenv not found: the transport suite ran only on {sys.executable}")
    missing = [f"3.{m}" for m in MINORS if m not in {minor for minor, _ in found.values()}]
    assert not missing, f"pyenv has no CPython {', '.join(missing)}: the suite must run on all of 3.8-3.13"
