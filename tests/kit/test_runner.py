"""The runner: expected failures, JSON and JUnit reports, exit codes, seed reproducibility.

These runs use tests/planted/oracle_ref.py (answers with the kit's own oracle) so they do not
depend on any implementation under test."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nexus_micro_kit import golden, runner
from nexus_micro_kit.__main__ import main
from nexus_micro_kit.protocol import InProcessAdapter, SubprocessAdapter

ROOT = Path(__file__).resolve().parents[2]
REF = "tests.planted.oracle_ref:handle"
BUGGY = "tests.planted.oracle_ref:routing_bug"  # S7: leading zeros dropped


def run(target: str, **config) -> runner.RunResult:
    config.setdefault("phases", ("vectors",))
    config.setdefault("seed", 3)
    config.setdefault("examples", 20)
    return runner.run(InProcessAdapter(target), runner.RunConfig(**config))


def failing_ids(result: runner.RunResult) -> set[str]:
    return {r.id for r in result.results if r.status in (runner.FAIL, runner.ERRORED)}


def test_reference_passes_vectors_and_properties():
    result = run(REF, phases=("vectors", "properties"))
    assert result.exit_code() == 0, [(r.id, r.message) for r in result.unexpected()]
    ids = {r.id for r in result.results}
    assert {"property:spec", "property:observed", "property:hostile", "kit:vectors", "kit:property:spec"} <= ids
    assert sum(1 for r in result.results if r.kind == "vector") == len(golden.load_vectors())
    assert result.implementation["name"] == "oracle-ref"


def test_buggy_vectors_fail_with_rule_and_exit_code():
    result = run(BUGGY)
    failed = [r for r in result.results if r.status == runner.FAIL]
    assert failed and result.exit_code() == 1
    assert all("S7" in r.rules and "routing_number" in r.message for r in failed)
    assert all(r.id.startswith("vector:") for r in failed)


def test_expected_failures_file(tmp_path):
    buggy = run(BUGGY)
    failing = sorted(failing_ids(buggy))
    listing = tmp_path / "known.txt"
    listing.write_text("# known S7 bug\n" + "\n".join(f"{i}   # routing" for i in failing[1:])
                       + "\nvector:s7-*\n" + f"{failing[0]}\n" + "vector:s1c-nan\n", encoding="utf-8")
    patterns = runner.load_expected_failures(str(listing))
    assert "vector:s7-*" in patterns and not any(p.startswith("#") for p in patterns)
    result = run(BUGGY, expected_failures=patterns)
    statuses = {r.id: r.status for r in result.results}
    assert all(statuses[i] == runner.XFAIL for i in failing)
    assert statuses["vector:s1c-nan"] == runner.XPASS  # listed but passes
    xpass = {i for i, s in statuses.items() if s == runner.XPASS}
    assert xpass == {i for i in statuses if i not in failing and (i == "vector:s1c-nan" or i.startswith("vector:s7-"))}
    assert result.exit_code() == 0
    strict = run(BUGGY, expected_failures=patterns, strict_expected=True)
    assert strict.exit_code() == 1 and {r.id for r in strict.unexpected()} == xpass
    partial = run(BUGGY, expected_failures=(failing[0],))  # only new failures fail the run
    assert partial.exit_code() == 1 and failing[0] not in {r.id for r in partial.unexpected()}


def test_json_and_junit_reports(tmp_path):
    out_json, out_xml = tmp_path / "r.json", tmp_path / "r.xml"
    code = main(["run", "--python", BUGGY, "--only", "vectors,properties", "--profile", "spec",
                 "--examples", "30", "--seed", "5", "-q", "--json", str(out_json), "--junit", str(out_xml)])
    assert code == 1
    report = json.loads(out_json.read_text(encoding="utf-8"))
    assert report["implementation"]["name"] == "oracle-ref" and report["mode"] == "in-process"
    assert report["seed"] == 5 and report["exit_code"] == 1
    cases = {c["id"]: c for c in report["cases"]}
    assert cases["vector:s7-integer"]["status"] == "fail" and "S7" in cases["vector:s7-integer"]["rules"]
    assert report["counts"]["fail"] == sum(1 for c in report["cases"] if c["status"] == "fail")
    assert report["by_rule"]["S7"]["fail"] >= 1
    tree = ET.parse(out_xml)
    testcases = tree.findall(".//testcase")
    assert len(testcases) == len(report["cases"])
    names = {t.get("name"): t for t in testcases}
    failure = names["vector:s7-integer"].find("failure")
    assert failure is not None and "S7" in failure.get("message")
    assert names["vector:s1c-nan"].find("failure") is None
    total_failures = sum(int(s.get("failures")) for s in tree.findall("testsuite"))
    assert total_failures == sum(1 for c in report["cases"] if c["status"] == "fail" and c["counts"])


def test_property_failure_reports_seed_counterexample_and_rule():
    result = run(BUGGY, phases=("properties",), profiles=("observed",), examples=60, seed=11)
    prop = next(r for r in result.results if r.id == "property:observed")
    assert prop.status == runner.FAIL
    details = prop.details
    assert details["seed"] == 11 and "--seed 11" in details["reproduce"]
    assert "--profile observed" in details["reproduce"]
    assert "S7" in prop.rules and "routing_number" in details["difference"]
    assert details["body_b64"] and isinstance(details["strict"], bool) and details["status"] == 200
    # shrunk: the minimal body has one item whose routing number starts with 0
    assert json.loads(details["body_text"])["micro_deposits"][0]["micro_deposit"]["routing_number"].startswith("0")


def test_same_seed_same_counterexample():
    same = {"phases": ("properties",), "profiles": ("observed",), "examples": 60, "seed": 21, "shrink": False}
    first, second = run(BUGGY, **same), run(BUGGY, **same)
    a = next(r for r in first.results if r.id == "property:observed")
    b = next(r for r in second.results if r.id == "property:observed")
    assert a.status == b.status == runner.FAIL
    assert a.details["body_b64"] == b.details["body_b64"] and a.message == b.message


def test_same_seed_same_examples_in_process_and_subprocess():
    """Hypothesis mixes constants of loaded modules into generation; the runner pins them, so
    a seed reproduces in any mode."""
    same = runner.RunConfig(phases=("properties",), profiles=("observed",), examples=60, seed=21, shrink=False)
    inproc = runner.run(InProcessAdapter(BUGGY), same)
    sub = runner.run(SubprocessAdapter(f"{sys.executable} -m tests.planted.oracle_ref --routing-bug", cwd=str(ROOT)),
                     same)
    a, b = inproc.results[0], sub.results[0]
    assert a.status == b.status == runner.FAIL and sub.mode == "subprocess"
    assert a.details["body_b64"] == b.details["body_b64"]


def test_kit_bug_when_the_oracle_disagrees_with_a_vector(monkeypatch):
    vectors = [v for v in golden.load_vectors() if v["id"] == "s7-integer"]
    wrong = dict(vectors[0], expected={"error": "malformed_response"})
    monkeypatch.setattr(golden, "load_vectors", lambda tier=None: [wrong])
    result = run(REF)
    statuses = {r.id: r for r in result.results}
    assert statuses["kit:vectors"].status == runner.FAIL and "s7-integer" in statuses["kit:vectors"].message
    assert result.exit_code() == 1


def test_recommended_tier_failure_does_not_fail_the_run(monkeypatch):
    vector = dict(next(v for v in golden.load_vectors() if v["id"] == "s7-integer"), tier="recommended")
    monkeypatch.setattr(golden, "load_vectors", lambda tier=None: [vector])
    result = run(BUGGY)
    case = next(r for r in result.results if r.id == "vector:s7-integer")
    assert case.status == runner.FAIL and not case.counts and result.exit_code() == 0
    assert run(BUGGY, require_recommended=True).exit_code() == 1


def test_cli_exit_codes_and_help(tmp_path, capsys):
    assert main(["run", "--python", REF, "--only", "vectors", "-q", "--vector", "s7-*"]) == 0
    assert main(["run", "--python", BUGGY, "--only", "vectors", "-q", "--vector", "s7-*"]) == 1
    assert main(["run", "--python", "no_such_module_xyz:handle", "--only", "vectors", "-q"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["run", "--only", "nonsense"])
    assert exc.value.code == 2
    out = subprocess.run([sys.executable, "-m", "nexus_micro_kit", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0 and "examples:" in out.stdout and "--impl" in out.stdout
    out = subprocess.run([sys.executable, "-m", "nexus_micro_kit", "run", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=False)
    assert "--expected-failures" in out.stdout and "--junit" in out.stdout


def test_subprocess_run():
    result = runner.run(SubprocessAdapter(f"{sys.executable} -m tests.planted.oracle_ref", cwd=str(ROOT)),
                        runner.RunConfig(phases=("vectors",), vectors=("s7-*",), seed=1))
    assert result.mode == "subprocess" and result.exit_code() == 0 and result.restarts == 0
