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


# ---- revision 2: drift lists (S11)

DRIFT_REF = "tests.planted.oracle_ref:with_drift"


def test_drift_lists_are_judged_only_for_adapters_that_list_the_feature():
    assert run(DRIFT_REF, phases=("vectors", "properties"), examples=30).exit_code() == 0
    # the same wrong notes from an adapter without the feature are not judged (revision 1)
    for module in ("drift_missing", "drift_order", "drift_wrong"):
        target = f"tests.planted.{module}:handle"
        planted = runner.protocol.load_callable(target)

        def without_features(message, handle=planted):
            reply = handle(message)
            if message["op"] == "start":
                reply.pop("features", None)
            return reply

        result = runner.run(InProcessAdapter(without_features), runner.RunConfig(phases=("vectors",), seed=3))
        assert result.exit_code() == 0 and result.features == [], module
        judged = runner.run(InProcessAdapter(target), runner.RunConfig(phases=("vectors",), seed=3))
        assert judged.exit_code() == 1 and "drift" in judged.features
        assert all("S11" in r.rules for r in judged.unexpected()), module


def test_drift_difference_names_the_note_and_its_rules():
    note = {"index": 0, "field": "routing_number", "type": "integer", "action": "padded", "rule": "S7"}
    skipped = {"index": 1, "field": None, "type": "null", "action": "skipped", "rule": "S3"}
    assert runner.drift_difference([note, skipped], {"drift": [note, skipped]}) is None
    message, rules = runner.drift_difference([note, skipped], {"drift": [skipped, note]})
    assert "drift[0]" in message and rules == ["S11", "S7", "S3"]
    message, rules = runner.drift_difference([note, skipped], {"drift": [note]})
    assert "missing" in message and rules == ["S11", "S3"]
    message, rules = runner.drift_difference([note], {"drift": [note, skipped]})
    assert "unexpected" in message and rules == ["S11", "S3"]
    assert "no drift member" in runner.drift_difference([], {})[0]
    # exact: 0 is not false and an extra member (the value itself, say) is a difference
    assert runner.drift_difference([dict(skipped, index=0)], {"drift": [dict(skipped, index=False)]})
    assert runner.drift_difference([note], {"drift": [dict(note, value=91000019)]})


def test_schema_drift_reply_must_carry_the_one_note_strict_mode_raised():
    expected = {"ok": False, "error": "schema_drift", "drift": [
        {"index": 0, "field": "status", "type": "string", "action": "coerced", "rule": "S8"}]}
    good = {"ok": False, "error": "schema_drift", "drift": expected["drift"]}
    assert runner.judge_parse(expected, good, ["S8"], {"drift"})[0] == runner.PASS
    assert runner.judge_parse(expected, {"ok": False, "error": "schema_drift"}, ["S8"], {"drift"})[0] == runner.FAIL
    assert runner.judge_parse(expected, {"ok": False, "error": "schema_drift"}, ["S8"], ())[0] == runner.PASS


# ---- secrets and personal data (S22)

TOKEN = "SeCrEt+Tok/1234"


@pytest.mark.parametrize("text", [
    TOKEN, f"x{TOKEN}y", "SeCrEt%2BTok%2F1234", "SeCrEt%2bTok%2f1234", "%53eCrEt+Tok/1234",
    "".join(f"%{b:02x}" for b in TOKEN.encode()), "".join(f"%{b:02X}" for b in TOKEN.encode()),
])
def test_the_token_is_found_in_every_percent_encoded_form(text):
    assert runner.secret_pattern(TOKEN).search(text)


@pytest.mark.parametrize("text", ["SeCrEt+Tok/123", "secret+tok/1234", "SeCrEt%2CTok/1234", "SeCrEt%2Tok/1234", ""])
def test_other_text_is_not_the_token(text):
    assert not runner.secret_pattern(TOKEN).search(text)


def test_token_problems_search_every_string_and_the_case_stderr_but_not_records():
    token = "tok-0123456789abcdef"
    reply = {"seq": 1, "ok": False, "error": "forbidden", "message": "403 for tok%2D0123456789abcdef"}
    assert runner.token_problems(reply, "", [token]) == [
        "the reply's message holds the session token (percent-encoded)"]
    nested = {"seq": 1, "errored": True, "message": "m", "traceback": "x", "extra": {"deep": [token]}}
    assert runner.token_problems(nested, "", [token]) == ["the reply's extra.deep[0] holds the session token"]
    assert runner.token_problems({"seq": 1, "ok": True, "micro_deposits": [{"guid": token}], "drift": []},
                                 "", [token]) == []  # the server's data: judged against the oracle, not redacted
    assert runner.token_problems({"seq": 1, "ok": True, "micro_deposits": []}, f"log: {token}\n", [token]) == [
        "the adapter's stderr during this case holds the session token"]
    assert runner.token_problems(reply, "", [None, "short"]) == []  # nothing to search for


def test_pii_values_are_long_enough_and_not_part_of_other_text():
    body = json.dumps({"micro_deposits": [
        {"micro_deposit": {"account_number": "333312345", "email": "jo@example.com", "first_name": "Josh",
                           "last_name": "VERIFIED", "account_name": "MX Bank", "status_name": "VERIFIED",
                           "institution_name": "MX Bank"}},
        {"micro_deposit": {"account_number": 12345678901234567}}, "junk"]}).encode()
    # Josh: 4 characters; VERIFIED and MX Bank: also the text of other fields an honest message may quote
    assert runner.pii_values(body) == ["12345678901234567", "333312345", "jo@example.com"]
    assert runner.pii_values(b'{"micro_deposits": NaN}') == []
    assert runner.pii_values(b'{"micro_deposits": {"micro_deposit": {"email": "jo@example.com"}}}') == []


@pytest.mark.parametrize("message,found", [
    ("account 333312345.", True), ("(333312345)", True), ("acct=333312345", True), ("****2345", False),
    ("id 03333123456", False), ("jo@example.com!", True), ("item 0 field email: integer coerced (S6)", False),
])
def test_pii_shown_as_a_whole_value(message, found):
    reply = {"seq": 1, "ok": False, "error": "schema_drift", "message": message}
    assert bool(runner.pii_problems(reply, ["333312345", "jo@example.com"])) == found


def test_secret_problems_fail_a_passing_case_and_add_to_a_failing_one():
    assert runner.with_secret_problems((runner.PASS, "", ["S14"]), "S22a", ["leak"]) == (
        runner.FAIL, "S22a: leak", ["S22a"])
    assert runner.with_secret_problems((runner.FAIL, "wrong", ["S14"]), "S22a", ["leak"]) == (
        runner.FAIL, "wrong; S22a: leak", ["S14", "S22a"])
    assert runner.with_secret_problems((runner.PASS, "", ["S14"]), "S22a", []) == (runner.PASS, "", ["S14"])


def test_token_on_stderr_of_a_subprocess_adapter_fails_the_case():
    adapter = SubprocessAdapter(f"{sys.executable} -m tests.planted.token_stderr", cwd=str(ROOT))
    result = runner.run(adapter, runner.RunConfig(phases=("http",), scenarios=("ok", "forbidden"), seed=1))
    failed = {r.id: r for r in result.unexpected()}
    assert set(failed) == {"http:ok", "http:forbidden"}
    assert all(r.rules == ["S22a"] and "stderr" in r.message for r in failed.values())
    assert "fetching" in failed["http:ok"].details["stderr_tail"]  # the case's own stderr is shown


# ---- hangs, kit failures, the case's stderr

def test_after_hang_limit_hangs_the_rest_of_a_phase_is_not_run():
    adapter = InProcessAdapter("tests.planted.hang_every_third:handle", parse_timeout=0.5, fetch_timeout=0.5)
    scenarios = ("ok", "empty", "forbidden", "not_found", "bad_request", "server_error_500", "session_expired",
                 "no_content_204")
    config = runner.RunConfig(phases=("vectors", "properties", "http"), examples=20, seed=2,
                              profiles=("observed", "hostile", "spec"), scenarios=scenarios)
    result = runner.run(adapter, config)
    for kind in ("vector", "property", "http"):
        cases = [r for r in result.results if r.kind == kind]
        hung = [r for r in cases if "protocol hang" in r.message]
        not_run = [r for r in cases if "protocol not_run" in r.message]
        assert len(hung) <= runner.HANG_LIMIT and (kind == "property" or not_run), kind
        assert all(r.status == runner.FAIL and r.rules == ["protocol"] for r in hung + not_run)
    vectors = [r for r in result.results if r.kind == "vector"]
    assert [r.status for r in vectors[:2]] == [runner.PASS, runner.PASS] and "hang" in vectors[2].message
    assert sum(1 for r in vectors if "not_run" in r.message) == len(vectors) - 6  # 2 hangs among the first 6


def test_phase_calls_stop_after_the_limit():
    class Hanging:
        calls = 0

        def call(self, request):
            self.calls += 1
            return runner.failure(runner.HANG, "no reply")

    adapter = Hanging()
    calls = runner.PhaseCalls(adapter, "vectors")
    replies = [calls.call({"op": "parse"}) for _ in range(5)]
    assert adapter.calls == runner.HANG_LIMIT
    assert [r["protocol_error"] for r in replies] == ["hang"] * runner.HANG_LIMIT + ["not_run"] * (
        5 - runner.HANG_LIMIT)


def test_a_missing_spec_file_is_the_kits_failure_not_the_adapters(monkeypatch):
    from nexus_micro_kit import resources, spec

    def missing(name):
        raise resources.KitDataError(f"kit data file spec/{name} cannot be loaded")

    monkeypatch.setattr(resources, "read_spec", missing)
    for cached in (getattr(spec, name) for name in dir(spec)):
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()
    result = run(REF, phases=("properties",), profiles=("spec",), examples=5)
    cases = {r.id: r for r in result.results}
    assert cases["kit:property:spec"].status == runner.FAIL and cases["kit:property:spec"].rules == ["kit"]
    assert "KitDataError" in cases["kit:property:spec"].message
    assert cases["property:spec"].rules == [] and "protocol" not in cases["property:spec"].rules
    assert cases["kit:coverage"].status == runner.FAIL  # SEMANTICS.md is a spec file too
    assert result.exit_code() == 1 and not any("protocol" in r.rules for r in result.results)


def test_an_exception_of_the_kit_in_a_phase_becomes_a_kit_case(monkeypatch):
    from nexus_micro_kit import server

    def broken(tier=None):
        raise RuntimeError("vector files unreadable")

    monkeypatch.setattr(golden, "load_vectors", broken)
    monkeypatch.setattr(server, "FakeNexus", lambda *a, **k: (_ for _ in ()).throw(OSError("no port")))
    result = run(REF, phases=("vectors", "http"))
    cases = {r.id: r for r in result.results}
    assert cases["kit:vectors"].status == runner.FAIL and "vector files unreadable" in cases["kit:vectors"].message
    assert cases["kit:http"].status == runner.FAIL and "no port" in cases["kit:http"].message
    assert result.exit_code() == 1


def test_a_judge_that_raises_is_a_kit_case_for_that_scenario(monkeypatch):
    from nexus_micro_kit import server

    def broken_judge(self, reply, features=frozenset()):
        raise KeyError("judge bug")

    monkeypatch.setattr(server.Trial, "judge", broken_judge)
    result = runner.run(InProcessAdapter("nexus_micro_kit.adapters.nexus_micro:handle"),
                        runner.RunConfig(phases=("http",), scenarios=("empty",), seed=1))
    assert [(r.id, r.kind, r.rules) for r in result.results] == [("kit:http:empty", "kit", ["kit"])]
    assert result.exit_code() == 1


def test_a_failures_stderr_is_that_cases_own():
    def noisy(message):
        reply = runner.protocol.load_callable(BUGGY)(message)
        if message["op"] == "parse":
            print(f"parsing seq {message['seq']}", file=sys.stderr)
        return reply

    result = runner.run(InProcessAdapter(noisy), runner.RunConfig(phases=("vectors",), vectors=("s7-*",), seed=1))
    failed = [r for r in result.results if r.status == runner.FAIL]
    assert failed
    for r in failed:
        lines = r.details["stderr_tail"].splitlines()
        assert len(lines) == 1 and lines[0].startswith("parsing seq ")


# ---- the time zone

def test_the_kit_runs_the_implementation_under_a_non_utc_time_zone():
    assert runner.RunConfig().time_zone in (runner.TIME_ZONE_NAME, runner.TIME_ZONE_POSIX)
    planted = "tests.planted.local_time:handle"
    caught = run(planted, phases=("vectors",), vectors=("s9b-*", "s5-one-coercion-per-field"))
    assert caught.exit_code() == 1 and all("S9b" in r.rules for r in caught.unexpected())
    # the same bug passes under UTC: the time zone is what shows it
    assert run(planted, phases=("vectors",), vectors=("s9b-*",), time_zone="UTC").exit_code() == 0


# ---- coverage of SEMANTICS.md

def test_semantics_rules_are_the_headings_and_sub_rules_in_order():
    from nexus_micro_kit import resources

    rules = runner.semantics_rules(resources.read_spec("SEMANTICS.md"))
    assert rules[:3] == ["S1", "S1a", "S1b"] and rules[-1] == "S22c"
    assert {"S9c", "S13d", "S20d", "S21b", "S22a"} <= set(rules) and len(rules) == len(set(rules))
    assert set(runner.NOT_JUDGED) <= set(rules)


def test_coverage_counts_cases_and_heading_rules_count_their_sub_rules():
    results = [runner.CaseResult("a", "vector", "required", runner.PASS, ["S9b"]),
               runner.CaseResult("b", "property", "spec", runner.PASS, [], covers=["S9", "S1a"]),
               runner.CaseResult("c", "http", "http", runner.FAIL, ["S10"], covers=["S1"])]
    table = runner.coverage(results, ["S1", "S1a", "S1b", "S9", "S9b", "S10", "S13d"])
    assert {k: v["cases"] for k, v in table.items()} == {"S1": 2, "S1a": 1, "S1b": 0, "S9": 2, "S9b": 1, "S10": 1,
                                                         "S13d": 0}
    assert table["S1b"]["level"] == "not judged" and table["S13d"]["level"] == "MUST"


def test_every_must_rule_has_cases_in_a_default_run(tmp_path):
    """Every rule of SEMANTICS.md but NOT_JUDGED is exercised by some case of a default run (any
    adapter: skipped scenarios still exercise nothing, but they name their rules)."""
    out = tmp_path / "report.json"
    code = main(["run", "--python", DRIFT_REF, "--examples", "40", "--seed", "4", "-q", "--json", str(out)])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert code == 1  # oracle_ref does not fetch: the http cases are skipped
    assert report["must_without_cases"] == [], report["must_without_cases"]
    assert list(report["coverage"])[:2] == ["S1", "S1a"]
    assert report["features"] == ["drift"] and report["time_zone"]
