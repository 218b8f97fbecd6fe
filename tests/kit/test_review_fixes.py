"""Runner behaviour a review of the kit showed was too lenient or could hang (protocol.py, runner.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

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


GROUP_ADAPTER = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    pids = sys.argv[1]
    for line in sys.stdin:
        m = json.loads(line)
        if m["op"] == "start":
            child = subprocess.Popen(["sleep", "300"])  # a grandchild of the runner, in the adapter's group
            with open(pids, "w") as f:
                f.write(f"{os.getpid()} {child.pid}")
            print(json.dumps({"seq": m["seq"], "ok": True, "ops": ["parse"],
                              "implementation": {"name": "group", "language": "python", "version": "1"}}), flush=True)
        else:
            time.sleep(3600)  # hang: the runner is waiting on this case when the signal comes
    """
)


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a container's init may not reap at once)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_the_adapter_group_dies_with_an_interrupted_runner(tmp_path: Path, signum: int) -> None:
    script, pids = tmp_path / "adapter.py", tmp_path / "pids"
    script.write_text(GROUP_ADAPTER)
    runner_proc = subprocess.Popen(
        [sys.executable, "-m", "nexus_micro_kit", "run", "--impl", f"{sys.executable} {script} {pids}",
         "--only", "vectors", "--timeout", "60", "-q"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (pids.exists() and len(pids.read_text().split()) == 2):
            assert time.monotonic() < deadline and runner_proc.poll() is None, "the adapter did not start"
            time.sleep(0.05)
        adapter_pid, grandchild_pid = (int(p) for p in pids.read_text().split())
        time.sleep(0.5)  # the runner is now waiting for the first parse reply
        runner_proc.send_signal(signum)
        runner_proc.wait(timeout=20)
        gone = time.monotonic() + 5
        while (_alive(adapter_pid) or _alive(grandchild_pid)) and time.monotonic() < gone:
            time.sleep(0.05)
        assert not _alive(adapter_pid), "the adapter outlived the runner"
        assert not _alive(grandchild_pid), "the adapter's child outlived the runner"
        assert runner_proc.returncode != 0
    finally:
        if runner_proc.poll() is None:
            runner_proc.kill()
        runner_proc.wait()
