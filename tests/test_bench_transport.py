"""bench/transport.py in smoke mode: it runs, and its output is well-formed (never its timing).

Only the stdlib clients (nexus_micro both ways, urlopen), so no venv is needed. The one timing
bound is the proxy's own judgement: at 10 ms one way, a call on a new connection cannot take
less than its three round trips (TCP, TLS, the request).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "transport.py"
CLIENTS = ["nexus_micro", "nexus_micro_ctx", "urlopen"]
LABELS = {
    "nexus_micro": "nexus_micro, default ssl_context",
    "nexus_micro_ctx": "nexus_micro, ssl_context passed",
    "urlopen": "urllib.request.urlopen per call",
}
CALLS, SLOW_CALLS, THREADS = 5, 3, 2


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if shutil.which("openssl") is None:
        pytest.skip("bench/transport.py makes its certificates with the openssl CLI")
    out = tmp_path_factory.mktemp("bench") / "transport.json"
    args = [
        "--calls", str(CALLS), "--rounds", "2", "--threads", str(THREADS), "--latency-ms", "0,10",
        "--latency-calls", str(SLOW_CALLS), "--latency-rounds", "1", "--clients", ",".join(CLIENTS),
        "--baseline", "urlopen", "--first-call-runs", "1", "--run-seconds", "60", "--json", str(out),
    ]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"text": proc.stdout, "json": json.loads(out.read_text())}


def test_every_run_made_its_calls_each_with_its_own_token(smoke: dict[str, Any]) -> None:
    tables = smoke["json"]["tables"]
    assert [(t["latency_ms"], t["mode"]) for t in tables] == [
        (0.0, "sequential"), (0.0, "threads"), (10.0, "sequential"), (10.0, "threads"),
    ]  # fmt: skip
    for table in tables:
        assert table["failures"] == []
        runs: list[dict[str, Any]] = table["runs"]
        assert sorted(r["client"] for r in runs) == sorted(CLIENTS * table["rounds"])
        for r in runs:
            calls = SLOW_CALLS if table["latency_ms"] and table["mode"] == "sequential" else CALLS
            # The server saw one request per call, each with a different MD-SESSION-TOKEN (S13b).
            assert (r["calls"], r["requests"], r["distinct_tokens"], r["bad_requests"]) == (calls, calls, calls, 0)
            assert r["wall_s"] > 0 and r["cpu_s"] > 0 and r["server_cpu_s"] >= 0
            assert r["calls_per_s"] == pytest.approx(calls / r["wall_s"])
            assert 1 <= r["connections"] <= calls
            if r["client"] == "urlopen":  # urllib sends Connection: close: the accept count must see each one
                assert r["connections"] == calls
            assert (r["proxy_cpu_s"] is None) == (table["latency_ms"] == 0)


def test_the_proxy_delays_every_round_trip(smoke: dict[str, Any]) -> None:
    slow = next(t for t in smoke["json"]["tables"] if t["latency_ms"] == 10.0 and t["mode"] == "sequential")
    for r in slow["runs"]:
        if r["client"] == "urlopen":  # a new connection per call: TCP, TLS and the request, 20 ms each
            assert r["wall_s"] >= SLOW_CALLS * 3 * 0.020


def test_tables_targets_and_first_call_are_printed(smoke: dict[str, Any]) -> None:
    text = smoke["text"]
    number = r"\s+\d+(?:-\d+)?\s+\d+\s+[\d.]+x\s+[\d.]+\s+[\d.]+x\s+\d+(?:-\d+)?\s+[\d.]+\s+\d+$"
    for title in ("0 ms one-way, sequential", "0 ms one-way, threads", "10 ms one-way, sequential",
                  "10 ms one-way, threads"):  # fmt: skip
        assert len(re.findall(rf"^{title} \(", text, re.MULTILINE)) == 1, title
    for label in LABELS.values():
        rows = re.findall(rf"^  {re.escape(label)}{number}", text, re.MULTILINE)
        assert len(rows) == 4, (label, text)
    assert text.count("targets for nexus_micro, default ssl_context | nexus_micro, ssl_context passed:") == 4
    verdict = r"\S+ (?:ok|MISS)"
    assert len(re.findall(rf"^    calls/s >= urlopen's\s+{verdict}\s+{verdict}$", text, re.MULTILINE)) == 2
    assert len(re.findall(rf"^    calls/s within 10 % of the best other client\s+{verdict}", text, re.MULTILINE)) == 2
    assert len(re.findall(rf"^    connections <= {THREADS}\s+{verdict}\s+{verdict}$", text, re.MULTILINE)) == 2
    ctx_rows = re.findall(rf"^    default ssl_context CPU <= 1.2x a context passed\s+{verdict}$", text, re.MULTILINE)
    assert len(ctx_rows) == 4
    cases = [c["case"] for c in smoke["json"]["first_call"]]
    assert "import nexus_micro + first call, default ssl_context" in cases
    assert any(c.startswith("stdlib baseline") for c in cases)
    for case in cases:
        assert re.search(rf"^  {re.escape(case)}\s+wall\s+[\d.]+ ms\s+[\d.]+x\s+CPU\s+[\d.]+ ms\s+[\d.]+x$", text,
                         re.MULTILINE), case  # fmt: skip


def test_help_documents_the_options() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    for option in ("--rounds", "--calls", "--threads", "--latency-ms", "--clients", "--baseline", "--nexus-micro"):
        assert option in proc.stdout
