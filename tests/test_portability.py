"""nexus_micro.py behaves the same on every CPython 3.8-3.13 that pyenv holds (run with -I)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def interpreters() -> list[str]:
    """CPython 3.8+ executables from pyenv (``pyenv root``), plus the running one."""
    found = {sys.executable}
    root = os.environ.get("PYENV_ROOT") or (shutil.which("pyenv") and subprocess.run(
        ["pyenv", "root"], capture_output=True, text=True).stdout.strip()) or str(Path.home() / ".pyenv")  # fmt: skip
    for exe in sorted(Path(root, "versions").glob("3.*/bin/python3")):
        minor = int(exe.parent.parent.name.split(".")[1])
        if 8 <= minor <= 13:
            found.add(str(exe))
    return sorted(found)


def run_selfcheck(python: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(ROOT / "nexus_micro.py", tmp)
        proc = subprocess.run(
            [python, "-I", "-c", (ROOT / "tests" / "selfcheck.py").read_text("utf-8")],
            cwd=tmp, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, f"{python}: {proc.stderr[-2000:]}"
        assert sorted(os.listdir(tmp)) in (["nexus_micro.py"], ["__pycache__", "nexus_micro.py"])
    return {row["case"]: row["result"] for row in map(json.loads, proc.stdout.splitlines())}


def test_same_results_on_every_cpython() -> None:
    pythons = interpreters()
    results = {py: run_selfcheck(py) for py in pythons}
    versions = sorted({str(r.pop("version")) for r in results.values()}, key=lambda v: tuple(map(int, v.split("."))))
    print(f"self-check ran on {len(pythons)} interpreters: CPython {', '.join(versions)}")
    assert len(versions) >= 2, f"found fewer than two CPython versions: {pythons}"
    reference = results[sys.executable]
    for py, got in results.items():
        assert got == reference, f"{py} differs from {sys.executable}"
    # And the reference itself is right (S7, S9a, S9c, S9b, S9e, S12, S8, S1d, S1c, S1e, S1f, S1a, S3):
    assert reference["seed"]["micro_deposits"][0]["routing_number"] == "091000019"
    assert reference["seed-strict"] == {"error": "schema_drift"}
    assert reference["offset"]["micro_deposits"][0]["created_at"] == "2021-10-22T16:14:38.000000Z"
    assert reference["nanos"]["micro_deposits"][0]["created_at"] == "2021-10-22T21:44:38.123456Z"
    assert reference["no-offset"]["micro_deposits"][0]["updated_at"] == "2021-10-22T21:44:38.000000Z"
    assert reference["week-date"]["micro_deposits"][0]["created_at"] is None
    assert reference["short-time"]["micro_deposits"][0]["created_at"] is None
    assert reference["year-999"]["micro_deposits"][0]["created_at"] == "0999-01-02T03:04:05.000000Z"
    assert reference["arabic-digits"]["micro_deposits"][0]["routing_number"] == "\u0660\u0669\u0661"
    assert reference["arabic-digits"]["micro_deposits"][0]["status"] is None
    assert reference["bool-status"]["micro_deposits"][0]["status"] is None
    assert reference["bool-status"]["micro_deposits"][0]["account_type"] == 2
    assert reference["big-int"]["micro_deposits"][0]["account_number"] == "12345678901234567890"
    for case in ("nan", "huge", "digits-4301", "surrogate", "deep", "utf16"):
        assert reference[case] == {"error": "malformed_response"}, case
    assert reference["bom"]["micro_deposits"][0]["guid"] == "g"
    assert reference["skip"] == {"micro_deposits": []}
    # The fast S9 path (fromisoformat, 3.11+) and the portable one agree on every mutated string.
    assert reference["timestamp-differential"]["disagree"] == [], reference["timestamp-differential"]
    assert reference["timestamp-differential"]["strings"] > 5000
