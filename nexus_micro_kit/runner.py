"""The conformance runner: golden vectors, hypothesis properties and HTTP scenarios.

It drives any implementation through a `protocol.Adapter` and judges every reply with the
kit's own oracle (`nexus_micro_kit.oracle`), never with the implementation under test. Each case
ends as one `CaseResult`; `RunResult.exit_code()` is 0 only when nothing unexpected failed.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

from nexus_micro_kit import oracle
from nexus_micro_kit.protocol import HANG, Adapter, parse_request

PASS, FAIL, SKIPPED, ERRORED = "pass", "fail", "skipped", "errored"
XFAIL, XPASS = "expected-failure", "unexpected-pass"
STATUSES = (PASS, FAIL, SKIPPED, ERRORED, XFAIL, XPASS)
PHASES = ("vectors", "properties", "http")
DEFAULT_PROFILES = ("spec", "observed", "hostile")
DEFAULT_EXAMPLES = 200


@dataclass
class CaseResult:
    """The outcome of one case. `counts` is False for cases whose failure must not fail the run
    (recommended-tier vectors: SHOULD, not MUST)."""

    id: str
    kind: str  # vector, property, http, kit
    group: str  # vectors: tier; properties: profile; http: "http"; kit: "kit"
    status: str
    rules: list[str] = field(default_factory=list)
    message: str = ""
    details: dict = field(default_factory=dict)
    seconds: float = 0.0
    counts: bool = True

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class RunConfig:
    """What to run. `label` is how the adapter was named on the command line (for reproduction)."""

    phases: tuple[str, ...] = PHASES
    profiles: tuple[str, ...] = DEFAULT_PROFILES
    examples: int = DEFAULT_EXAMPLES
    seed: int = 0
    scenarios: tuple[str, ...] | None = None  # None: all of server.SCENARIOS
    vectors: tuple[str, ...] | None = None  # fnmatch patterns on vector ids; None: all
    expected_failures: tuple[str, ...] = ()
    strict_expected: bool = False
    require_recommended: bool = False
    allow_skips: bool = False  # skipped cases do not fail the run (they never count as passes)
    shrink: bool = True  # False: report the first failing example as found (faster)
    label: str = ""


@dataclass
class RunResult:
    """Everything the reports need."""

    config: RunConfig
    implementation: dict
    adapter: str
    mode: str  # in-process or subprocess
    results: list[CaseResult]
    seconds: float
    calls: int
    restarts: int
    stderr_tail: str = ""
    phases: dict[str, dict] = field(default_factory=dict)  # phase -> {"calls", "seconds"}

    def unexpected(self) -> list[CaseResult]:
        """Cases that make the run fail."""
        # A skip is not a pass: an adapter that implements nothing must not get a green run.
        failing = (FAIL, ERRORED) if self.config.allow_skips else (FAIL, ERRORED, SKIPPED)
        bad = [r for r in self.results if r.counts and r.status in failing]
        if self.config.strict_expected:
            bad += [r for r in self.results if r.status == XPASS]
        return bad

    def exit_code(self) -> int:
        return 1 if self.unexpected() else 0

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for r in self.results:
            out[r.status] += 1
        return out


class Progress:
    """Progress hooks; `report.StderrProgress` prints them. This one is silent."""

    def phase(self, name: str, total: int | None) -> None: ...

    def case(self, result: CaseResult) -> None: ...

    def end_phase(self) -> None: ...


# ---------------------------------------------------------------------------------------------
# Judging one parse reply


def _expected_from_vector(expected: dict) -> dict:
    if "error" in expected:
        return {"ok": False, "error": expected["error"]}
    return {"ok": True, "micro_deposits": expected["micro_deposits"]}


_FIELD_PATH = re.compile(r"micro_deposits\[\d+\](?:\.(\w+)|: (?:missing|unexpected) member '([^']*)')")


def rules_for_difference(difference: str, rules: Iterable[str]) -> list[str]:
    """The rules to name for a differing record: FIELD_RULES of the field the difference is in,
    refined by the oracle's more specific ids (S9 -> S9a); else the case's rules."""
    rules = list(rules)
    match = _FIELD_PATH.match(difference)
    name = (match.group(1) or match.group(2)) if match else None
    if name in oracle.FIELD_RULES:
        named = list(oracle.FIELD_RULES[name])
        named += [r for r in rules if r not in named and any(r.startswith(b) for b in named)]
        if match.group(2):  # a record without one of its 18 members
            named.append("S12")
        return named
    if match and name is not None:
        return ["S12"]  # a member that is not one of the 18
    return rules or ["S12"]


def _summary(outcome: dict) -> str:
    if outcome.get("ok"):
        return f"{len(outcome['micro_deposits'])} record(s)"
    return f"error {outcome.get('error')}"


def judge_parse(expected: dict, reply: dict, rules: list[str]) -> tuple[str, str, list[str]]:
    """(status, message, rules) for a parse/fetch reply against an expected outcome
    ({"ok": True, "micro_deposits"} or {"ok": False, "error"})."""
    if "protocol_error" in reply:
        return FAIL, f"protocol {reply['protocol_error']}: {reply['message']}", ["protocol"]
    if reply.get("skipped"):
        return SKIPPED, reply.get("reason", "skipped by the adapter"), list(rules)
    if reply.get("errored"):
        return ERRORED, f"implementation crashed: {reply.get('message', '')}", list(rules)
    if expected["ok"] and reply.get("ok"):
        exp = {"micro_deposits": expected["micro_deposits"]}
        act = {"micro_deposits": reply["micro_deposits"]}
        if oracle.canonical_equal(exp, act):
            return PASS, "", list(rules)
        difference = oracle.first_difference(exp, act) or "records differ"
        return FAIL, difference, rules_for_difference(difference, rules)
    if not expected["ok"] and not reply.get("ok") and reply.get("error") == expected["error"]:
        return PASS, "", list(rules)
    return FAIL, f"expected {_summary(expected)}, got {_summary(reply)}", list(rules) or ["S14"]


def _body_shown(body: bytes) -> dict:
    """The body for a failure report: text when it is short valid UTF-8, always base64."""
    shown: dict[str, Any] = {"body_b64": base64.b64encode(body).decode("ascii"), "body_bytes": len(body)}
    try:
        text = body.decode("utf-8")
        shown["body_text"] = text if len(text) <= 2000 else text[:2000] + "..."
    except UnicodeDecodeError:
        pass
    return shown


# ---------------------------------------------------------------------------------------------
# (a) golden vectors


def run_vectors(adapter: Adapter, config: RunConfig, progress: Progress) -> list[CaseResult]:
    """Each vector: the adapter must match the vector's expected outcome; the oracle must too
    (a disagreement is a kit bug, reported as `kit:vectors`)."""
    from nexus_micro_kit import golden

    vectors = golden.load_vectors()
    if config.vectors is not None:
        vectors = [v for v in vectors if any(fnmatch.fnmatchcase(v["id"], p) for p in config.vectors)]
    progress.phase("vectors", len(vectors))
    results, disagreements = [], []
    for vector in vectors:
        inp = vector["input"]
        status, headers, strict = inp.get("status", 200), inp.get("headers", []), inp.get("strict", False)
        expected = _expected_from_vector(vector["expected"])
        oracle_says = oracle.expect_parse(status, headers, vector["body_bytes"], strict)
        if not _same_outcome(expected, oracle_says):
            disagreements.append(f"{vector['id']}: vector says {_summary(expected)}, oracle says "
                                 f"{_summary(oracle_says)}")
        tier = vector.get("tier", "required")
        started = time.perf_counter()
        if "parse" not in adapter.ops:
            outcome = (SKIPPED, "adapter does not implement parse", list(vector.get("rules", [])))
        else:
            reply = adapter.call(parse_request(status, headers, vector["body_bytes"], strict))
            outcome = judge_parse(expected, reply, list(vector.get("rules", [])))
        result = CaseResult(
            id=f"vector:{vector['id']}", kind="vector", group=tier, status=outcome[0], rules=outcome[2],
            message=outcome[1], seconds=time.perf_counter() - started,
            counts=tier == "required" or config.require_recommended,
            details={"file": vector.get("file"), "description": vector.get("description", ""),
                     "status": status, "strict": strict, **_body_shown(vector["body_bytes"])})
        _attach_stderr(adapter, result)
        results.append(result)
        progress.case(result)
    progress.end_phase()
    if vectors:
        results.append(CaseResult(
            id="kit:vectors", kind="kit", group="kit", status=FAIL if disagreements else PASS,
            rules=["kit"], message="; ".join(disagreements[:20]),
            details={"disagreements": disagreements}))
    return results


def _same_outcome(expected: dict, oracle_says: dict) -> bool:
    if expected["ok"] != oracle_says["ok"]:
        return False
    if not expected["ok"]:
        return expected["error"] == oracle_says["error"]
    return oracle.canonical_equal({"micro_deposits": expected["micro_deposits"]},
                                  {"micro_deposits": oracle_says["micro_deposits"]})


def _attach_stderr(adapter: Adapter, result: CaseResult) -> None:
    if result.status in (FAIL, ERRORED):
        tail = adapter.stderr_tail()
        if tail:
            result.details["stderr_tail"] = tail[-2000:]


# ---------------------------------------------------------------------------------------------
# (b) properties


class _Mismatch(AssertionError):
    """Raised inside the property; carries the failing example's report."""

    def __init__(self, status: str, details: dict):
        super().__init__(details.get("difference", ""))
        self.status = status
        self.details = details


def run_property(adapter: Adapter, profile: str, config: RunConfig) -> list[CaseResult]:
    """One hypothesis property: the adapter's reply equals oracle.expect_parse. On failure the
    result holds hypothesis's shrunk counterexample and the seed that reproduces it."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

    from nexus_micro_kit import spec, strategies

    stats = {"examples": 0, "skipped": 0}
    kit_bugs: list[str] = []
    hung: list[_Mismatch] = []

    def check(case: dict) -> None:
        status, headers, body, strict = case["status"], case["headers"], case["body"], case["strict"]
        if hung:  # after a hang, do not wait again for every shrink step
            raise hung[0]
        stats["examples"] += 1
        try:
            expected = oracle.expect_parse(status, headers, body, strict)
        except Exception as exc:  # a kit bug, not the implementation's
            kit_bugs.append(f"oracle raised {type(exc).__name__}: {exc} on {body[:120]!r}")
            return
        if profile == "spec":
            _check_spec_case(spec, body, strict, expected, kit_bugs)
        reply = adapter.call(parse_request(status, headers, body, strict))
        verdict, message, rules = judge_parse(expected, reply, list(expected.get("rules", [])))
        if verdict == SKIPPED:
            stats["skipped"] += 1
            return
        if verdict == PASS:
            return
        details = {
            "seed": config.seed, "profile": profile, "status": status, "strict": strict,
            "headers": [list(h) for h in headers], **_body_shown(body),
            "expected": _summary(expected), "actual": _reply_summary(reply), "difference": message,
            "rules": rules,
            "reproduce": f"python -m nexus_micro_kit run {config.label} --only properties --profile "
                         f"{profile} --examples {config.examples} --seed {config.seed}"
                         f"{'' if config.shrink else ' --no-shrink'}".replace("  ", " "),
        }
        error = _Mismatch(FAIL if verdict == FAIL else ERRORED, details)
        if reply.get("protocol_error") == HANG:
            hung.append(error)
        raise error

    prop = given(strategies.cases(profile))(check)
    prop = seed(config.seed)(prop)
    prop = settings(max_examples=config.examples, database=None, deadline=None, derandomize=False,
                    verbosity=Verbosity.quiet, report_multiple_bugs=False,
                    suppress_health_check=list(HealthCheck),
                    phases=[p for p in Phase if config.shrink or p not in (Phase.shrink, Phase.explain)])(prop)
    started = time.perf_counter()
    case_id = f"property:{profile}"
    try:
        prop()
        if stats["skipped"]:  # one skipped example leaves the property unproven
            result = CaseResult(case_id, "property", profile, SKIPPED, [],
                                f"{stats['skipped']} of {stats['examples']} examples skipped")
        else:
            result = CaseResult(case_id, "property", profile, PASS, [],
                                f"{stats['examples']} examples, {stats['skipped']} skipped")
    except _Mismatch as exc:
        found = exc.details
        result = CaseResult(case_id, "property", profile, exc.status, found["rules"],
                            f"{found['difference']} (seed {config.seed})", details=found)
    except Exception as exc:  # hypothesis's own errors (flaky adapter, ...) fail the case
        result = CaseResult(case_id, "property", profile, FAIL, ["protocol"],
                            f"{type(exc).__name__}: {str(exc)[:500]} (seed {config.seed})")
    result.seconds = time.perf_counter() - started
    result.details.setdefault("examples", stats["examples"])
    _attach_stderr(adapter, result)
    results = [result]
    if profile == "spec" or kit_bugs:
        results.append(CaseResult(
            f"kit:property:{profile}", "kit", "kit", FAIL if kit_bugs else PASS, ["kit"],
            "; ".join(kit_bugs[:5]), details={"problems": kit_bugs[:20]}))
    return results


def _check_spec_case(spec: Any, body: bytes, strict: bool, expected: dict, kit_bugs: list[str]) -> None:
    """A "spec" body must validate against the document (else the strategy has a bug), and
    lenient mode must accept it (S4; else the oracle has a bug)."""
    try:
        document, _facts = oracle.parse_json(body)
    except oracle.Malformed as exc:
        kit_bugs.append(f"spec strategy made a body that is not JSON ({exc}): {body[:120]!r}")
        return
    problems = spec.validate(document, "spec")
    if problems:
        kit_bugs.append(f"spec strategy made a body the document rejects: {problems[0]}: {body[:120]!r}")
    elif not strict and not expected["ok"]:
        kit_bugs.append(f"oracle rejects a schema-valid body in lenient mode (S4): {expected.get('error')}: "
                        f"{body[:120]!r}")


def _reply_summary(reply: dict) -> str:
    if "protocol_error" in reply:
        return f"protocol {reply['protocol_error']}"
    if reply.get("errored"):
        return f"errored: {reply.get('message', '')[:200]}"
    return _summary(reply)


@contextlib.contextmanager
def _seed_only_generation() -> Iterator[None]:
    """Make a seed mean the same examples everywhere. Hypothesis 6.1xx mixes constants found
    in every local module in sys.modules into generation, so the examples of a seed would
    depend on which modules are loaded: an in-process adapter's, the CLI's. Pin them to none
    while the kit's properties run (private API: skipped if hypothesis changes it)."""
    try:
        from hypothesis.internal.conjecture import providers

        original, empty = providers._get_local_constants, providers.Constants()
        providers.CONSTANTS_CACHE.cache.clear()
    except (ImportError, AttributeError):
        yield
        return
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def run_properties(adapter: Adapter, config: RunConfig, progress: Progress) -> list[CaseResult]:
    progress.phase("properties", len(config.profiles) + ("spec" in config.profiles))
    results = []
    for profile in config.profiles:
        if "parse" not in adapter.ops:
            produced = [CaseResult(f"property:{profile}", "property", profile, SKIPPED, [],
                                   "adapter does not implement parse")]
        else:
            with _seed_only_generation():
                produced = run_property(adapter, profile, config)
        for result in produced:
            results.append(result)
            progress.case(result)
    progress.end_phase()
    return results


# ---------------------------------------------------------------------------------------------
# (c) HTTP scenarios


def run_http(adapter: Adapter, config: RunConfig, progress: Progress) -> list[CaseResult]:
    """Each scenario: one fetch against the kit's fake Nexus server, judged by the server."""
    from nexus_micro_kit import server

    names = list(config.scenarios) if config.scenarios is not None else list(server.SCENARIOS)
    unknown = [n for n in names if n not in server.SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(unknown)}")
    progress.phase("http", len(names))
    results = []
    with server.FakeNexus() as nexus:
        for name in names:
            results.append(_run_scenario(adapter, nexus, name, server.SCENARIOS[name]))
            progress.case(results[-1])
    progress.end_phase()
    return results


def _run_scenario(adapter: Adapter, nexus: Any, name: str, description: str) -> CaseResult:
    case_id = f"http:{name}"
    started = time.perf_counter()
    trial = nexus.prepare(name, timeout=2.0)
    rules = list(trial.rules)
    if "fetch" not in adapter.ops:
        return CaseResult(case_id, "http", "http", SKIPPED, rules, "adapter does not implement fetch")
    reply = adapter.call({"op": "fetch", **trial.fetch})
    problems = trial.judge(reply)
    details = {"description": description, "reply": _reply_summary(reply)}
    if "protocol_error" in reply:
        status, message, named = FAIL, f"protocol {reply['protocol_error']}: {reply['message']}", ["protocol"]
    elif reply.get("errored"):
        status, message, named = ERRORED, f"implementation crashed: {reply.get('message', '')}", rules
    elif len(problems) == 1 and problems[0][0] == "skipped":
        status, message, named = SKIPPED, problems[0][1], rules
    elif problems:
        named = list(dict.fromkeys(rule for rule, _ in problems))
        status, message = FAIL, "; ".join(f"{rule}: {text}" for rule, text in problems)
    else:
        status, message, named = PASS, "", rules
    result = CaseResult(case_id, "http", "http", status, named, message, details,
                        time.perf_counter() - started)
    _attach_stderr(adapter, result)
    return result


# ---------------------------------------------------------------------------------------------
# Expected failures and the whole run


def load_expected_failures(path: str) -> tuple[str, ...]:
    """One case id or fnmatch glob per line; `#` starts a comment."""
    patterns = []
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.split("#", 1)[0].strip()
            if line:
                patterns.append(line)
    return tuple(patterns)


def apply_expected_failures(results: list[CaseResult], patterns: Iterable[str]) -> None:
    """Listed failing cases become expected failures; listed passing ones unexpected passes."""
    patterns = list(patterns)
    for result in results:
        if not any(fnmatch.fnmatchcase(result.id, p) for p in patterns):
            continue
        if result.status in (FAIL, ERRORED, SKIPPED):
            result.details["was"] = result.status
            result.status = XFAIL
        elif result.status == PASS:
            result.status = XPASS
            result.message = "listed as an expected failure, but passed: remove it from the list"


def run(adapter: Adapter, config: RunConfig, progress: Progress | None = None) -> RunResult:
    """Open the adapter, run the selected phases, close it, apply the expected-failure list."""
    progress = progress or Progress()
    started = time.perf_counter()
    try:
        adapter.open()
    except BaseException:
        adapter.close()
        raise
    results: list[CaseResult] = []
    phase_stats: dict[str, dict] = {}
    try:
        for phase, function in (("vectors", run_vectors), ("properties", run_properties), ("http", run_http)):
            if phase not in config.phases:
                continue
            calls, begun = adapter.calls, time.perf_counter()
            results += function(adapter, config, progress)
            phase_stats[phase] = {"calls": adapter.calls - calls, "seconds": time.perf_counter() - begun}
    finally:
        tail = adapter.stderr_tail()
        adapter.close()
    apply_expected_failures(results, config.expected_failures)
    mode = "subprocess" if adapter.__class__.__name__ == "SubprocessAdapter" else "in-process"
    return RunResult(config, dict(adapter.implementation), adapter.description, mode, results,
                     time.perf_counter() - started, adapter.calls, adapter.restarts, tail, phase_stats)
