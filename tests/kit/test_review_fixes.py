"""Runner behaviour a review of the kit showed was too lenient or could hang (protocol.py, runner.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

START_ONLY = textwrap.dedent(
    """
    import json, sys, time
    mode = sys.argv[1]
    for line in sys.stdin:
        m = json.loads(line)
        if m["op"] == "start":
            ops = [] if mode == "noops" else ["parse"]
            print(json.dumps({"seq": m["seq"], "ok": True, "ops": ops,
                              "implementation": {"name": mode, "language": "python", "version": "1"}}), flush=True)
        elif m["op"] == "stop":
            print(json.dumps({"seq": m["seq"], "ok": True}), flush=True)
            break
        elif mode == "hang":
            time.sleep(3600)
        elif mode == "long":
            while True:
                sys.stdout.write("x" * 1048576)
                sys.stdout.flush()
        else:
            print(json.dumps({"seq": m["seq"], "skipped": True, "reason": "not implemented"}), flush=True)
    """
)


def kit(tmp_path: Path, mode: str, *extra: str, wrapper: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    script = tmp_path / "adapter.py"
    script.write_text(START_ONLY)
    command = f"{sys.executable} {script} {mode}"
    if wrapper:
        command = f"sh -c '{command}; true'"
    return subprocess.run(
        [sys.executable, "-m", "nexus_micro_kit", "run", "--impl", command, "-q", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_an_adapter_that_implements_nothing_does_not_pass(tmp_path: Path) -> None:
    proc = kit(tmp_path, "noops", "--only", "vectors,http", "--vector", "s14-*")
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "RESULT: FAIL" in proc.stdout
    allowed = kit(tmp_path, "noops", "--only", "vectors", "--vector", "s14-*", "--allow-skips")
    assert allowed.returncode == 0, allowed.stdout[-2000:]


def test_skipped_examples_do_not_make_a_property_pass(tmp_path: Path) -> None:
    proc = kit(tmp_path, "skip", "--only", "properties", "--profile", "spec", "--examples", "5", "--seed", "1")
    assert proc.returncode == 1 and "RESULT: FAIL" in proc.stdout, proc.stdout[-2000:]


def test_a_hanging_adapter_behind_a_wrapper_does_not_hang_the_runner(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = kit(tmp_path, "hang", "--only", "vectors", "--vector", "s14-40*", "--timeout", "1", wrapper=True)
    assert proc.returncode == 1
    assert time.monotonic() - started < 60
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "adapter.py")], capture_output=True, text=True).stdout
    assert left.strip() == "", "the adapter's process group was not killed"


def test_an_endless_stdout_line_is_garbage_not_an_out_of_memory(tmp_path: Path) -> None:
    proc = kit(tmp_path, "long", "--only", "vectors", "--vector", "s14-400*", "--timeout", "30")
    assert proc.returncode == 1 and "RESULT: FAIL" in proc.stdout, proc.stdout[-2000:]


def test_an_in_process_adapter_that_fails_to_import_cannot_start(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom at import')\n")
    proc = subprocess.run(
        [sys.executable, "-m", "nexus_micro_kit", "run", "--python", f"{broken}:handle", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-1000:])
