"""The conformance runner: golden vectors, hypothesis properties and HTTP scenarios.

It drives any implementation through a `protocol.Adapter` and judges every reply with the
kit's own oracle (`nexus_micro_kit.oracle`), never with the implementation under test. Each case
ends as one `CaseResult`; `RunResult.exit_code()` is 0 only when nothing unexpected failed.

Besides the outcome, every reply is searched for secrets (S22a: the session token and its
percent-encoded forms, also in what the adapter wrote to stderr during the case; S22b: personal
data of the body in messages), drift lists are compared when the adapter lists the `drift`
feature (S11), and an exception of the kit's own code becomes a `kit:...` case (rule `kit`),
never a failure charged to the implementation.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import functools
import json
import os
import re
import signal
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

from nexus_micro_kit import oracle, protocol, resources
from nexus_micro_kit.protocol import HANG, NOT_RUN, Adapter, failure, parse_request

PASS, FAIL, SKIPPED, ERRORED = "pass", "fail", "skipped", "errored"
XFAIL, XPASS = "expected-failure", "unexpected-pass"
STATUSES = (PASS, FAIL, SKIPPED, ERRORED, XFAIL, XPASS)
PHASES = ("vectors", "properties", "http")
DEFAULT_PROFILES = ("spec", "observed", "hostile")
DEFAULT_EXAMPLES = 200

# After this many hangs in one phase, the phase's remaining cases fail at once as `protocol`
# ("not run") instead of each waiting for the time limit: an adapter that hangs on every third
# call costs at most HANG_LIMIT time limits per phase. Two, so that one input-specific hang
# still lets the rest of the phase be judged.
HANG_LIMIT = 2

# The local time zone the implementation runs under (README "Local time"): St. John's is
# UTC-03:30 in winter and UTC-02:30 in summer, never UTC, so an implementation that reads an
# offset-less timestamp (S9b) or an HTTP-date (S16) as local time is wrong by a non-whole number
# of hours on every machine, and one that applies today's offset to every date is wrong for half
# the year. The IANA name when the tz database is installed (Node and Java read only names), else
# the same rule as a POSIX TZ string, which C libraries understand without a database.
TIME_ZONE_NAME = "America/St_Johns"
TIME_ZONE_POSIX = "NST3:30NDT,M3.2.0,M11.1.0"

# Rules of SEMANTICS.md that no case of the kit can judge through the protocol (README
# "Coverage"); every other rule is a MUST for coverage: a default run must have cases for it.
NOT_JUDGED = {
    "S1b": "the protocol hands bodies over as bytes (body_b64); a text API is the implementation's choice",
    "S22c": "the kit judges categories, records and secrets in replies, not how text is shown on a terminal",
}

# S22b: personal data the kit looks for in messages; shorter values are not searched (README).
PII_FIELDS = ("account_name", "account_number", "email", "first_name", "last_name")
PII_MIN_LENGTH = 5
# S22a: shorter secrets are not searched for (every reply would match a 3-character token).
MIN_SECRET_LENGTH = 8
_TYPES = ("string", "integer", "number", "boolean", "null", "array", "object")
_ACTIONS = ("coerced", "padded", "nulled", "assumed_utc", "truncated", "skipped")
_CATEGORIES = ("malformed_response", "schema_drift", "unauthorized", "session_expired", "forbidden", "not_found",
               "rate_limited", "server_error", "http_error", "unexpected_redirect", "response_too_large",
               "transport_error", "timeout", "invalid_argument")
# Text an honest message may hold whatever the body: a value equal to one of these is no evidence.
_VOCABULARY = (*oracle.FIELDS, "extra", "micro_deposits", "micro_deposit", *_TYPES, *_ACTIONS, *_CATEGORIES)


def default_time_zone() -> str:
    """TIME_ZONE_NAME when this machine's tz database has it, else TIME_ZONE_POSIX."""
    tzdir = os.environ.get("TZDIR") or "/usr/share/zoneinfo"
    return TIME_ZONE_NAME if os.path.isfile(os.path.join(tzdir, *TIME_ZONE_NAME.split("/"))) else TIME_ZONE_POSIX


@dataclass
class CaseResult:
    """The outcome of one case. `rules` are the rules a failure is blamed on (a passing case
    names its own); `covers` the rules the case exercised, for the coverage table. `counts` is
    False for cases whose failure must not fail the run (recommended-tier vectors: SHOULD)."""

    id: str
    kind: str  # vector, property, http, kit
    group: str  # vectors: tier; properties: profile; http: "http"; kit: "kit"
    status: str
    rules: list[str] = field(default_factory=list)
    message: str = ""
    details: dict = field(default_factory=dict)
    seconds: float = 0.0
    counts: bool = True
    covers: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class RunConfig:
    """What to run. `label` is how the adapter was named on the command line (for reproduction).
    `time_zone`: the TZ the implementation runs under (None: leave the environment alone)."""

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
    time_zone: str | None = field(default_factory=default_time_zone)


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
    features: list[str] = field(default_factory=list)  # what the adapter's start reply listed
    coverage: dict[str, dict] = field(default_factory=dict)  # rule -> {"level", "cases"}, SEMANTICS order

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

    def must_without_cases(self) -> list[str]:
        """MUST rules (every rule not in NOT_JUDGED) that no case of this run exercised."""
        return [rule for rule, row in self.coverage.items() if row["level"] == "MUST" and not row["cases"]]


class Progress:
    """Progress hooks; `report.StderrProgress` prints them. This one is silent."""

    def phase(self, name: str, total: int | None) -> None: ...

    def case(self, result: CaseResult) -> None: ...

    def end_phase(self) -> None: ...


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP ended the run (SIGINT raises a plain KeyboardInterrupt)."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


def _kit_case(case_id: str, exc: BaseException, what: str) -> CaseResult:
    """A failure of the kit's own code: never charged to the implementation, fails the run."""
    return CaseResult(case_id, "kit", "kit", FAIL, ["kit"],
                      f"the kit itself failed ({what}): {type(exc).__name__}: {exc}"[:1000],
                      details={"traceback": traceback.format_exc()[-4000:]})


# ---------------------------------------------------------------------------------------------
# Calls, one phase at a time


class PhaseCalls:
    """Sends one phase's requests. After HANG_LIMIT hangs the phase's remaining requests are not
    sent: each gets a NOT_RUN protocol failure at once."""

    def __init__(self, adapter: Adapter, phase: str):
        self.adapter = adapter
        self.phase = phase
        self.hangs = 0

    def call(self, request: dict) -> dict:
        if self.hangs >= HANG_LIMIT:
            return failure(NOT_RUN, f"the adapter hung {self.hangs} times in the {self.phase} phase "
                                    f"(limit {HANG_LIMIT}): case not run")
        reply = self.adapter.call(request)
        if reply.get("protocol_error") == HANG:
            self.hangs += 1
        return reply


# ---------------------------------------------------------------------------------------------
# Judging one parse reply


def _expected_from_vector(expected: dict) -> dict:
    if "error" in expected:
        out: dict = {"ok": False, "error": expected["error"]}
    else:
        out = {"ok": True, "micro_deposits": expected["micro_deposits"]}
    if "drift" in expected:  # written by hand in vectors/build.py (S11)
        out["drift"] = expected["drift"]
    return out


_FIELD_PATH = re.compile(r"micro_deposits\[\d+\](?:\.(\w+)|: (?:missing|unexpected) member '([^']*)')")
_RULE_ID = re.compile(r"S[0-9]{1,2}[a-z]?")


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


def rules_for_records(expected: list, actual: list, difference: str, rules: Iterable[str]) -> list[str]:
    """rules_for_difference for the first difference, then the rules of every other field that
    differs (a value filled from "Guid" differs at guid and at extra: S6 and S5b)."""
    rules = list(rules)
    named = rules_for_difference(difference, rules)
    if len(expected) != len(actual):
        return named
    for want, got in zip(expected, actual):
        if not isinstance(want, dict) or not isinstance(got, dict):
            continue
        for name in list(want) + [k for k in got if k not in want]:
            if name in want and name in got and oracle.canonical_equal(want[name], got[name]):
                continue
            more = rules_for_difference(f"micro_deposits[0].{name}", rules) if name in oracle.FIELD_RULES else ["S12"]
            named += [r for r in more if r not in named]
    return named


def _summary(outcome: dict) -> str:
    if outcome.get("ok"):
        return f"{len(outcome['micro_deposits'])} record(s)"
    return f"error {outcome.get('error')}"


def _note_text(note: Any) -> str:
    """A drift note as exact JSON (sorted members), so that 0 and false, 1 and 1.0 differ."""
    return json.dumps(note, sort_keys=True, ensure_ascii=False)


def _note_rules(*notes: Any) -> list[str]:
    named = ["S11"]
    for note in notes:
        rule = note.get("rule") if isinstance(note, dict) else None
        if isinstance(rule, str) and _RULE_ID.fullmatch(rule) and rule not in named:
            named.append(rule)
    return named


def drift_difference(want: list | None, reply: dict) -> tuple[str, list[str]] | None:
    """(message, rules) when the reply's `drift` is not exactly `want` (S11), else None."""
    if want is None:
        return None
    got = reply.get("drift")
    if not isinstance(got, list):
        shown = "no drift member" if got is None else f"drift {_note_text(got)[:80]}, not a list"
        return f"drift notes (S11): the adapter lists the drift feature, but the reply has {shown}", ["S11"]
    for index, (expected_note, actual_note) in enumerate(zip(want, got)):
        if _note_text(expected_note) != _note_text(actual_note):
            return (f"drift notes (S11): drift[{index}] expected {_note_text(expected_note)}, "
                    f"got {_note_text(actual_note)[:300]}", _note_rules(expected_note, actual_note))
    if len(want) != len(got):
        if len(got) > len(want):
            odd, what = got[len(want)], "unexpected"
        else:
            odd, what = want[len(got)], "missing"
        return (f"drift notes (S11): expected {len(want)} note(s), got {len(got)}; the first {what} one is "
                f"{_note_text(odd)[:300]}", _note_rules(odd))
    return None


def judge_parse(expected: dict, reply: dict, rules: list[str],
                features: Iterable[str] = ()) -> tuple[str, str, list[str]]:
    """(status, message, rules) for a parse/fetch reply against an expected outcome
    ({"ok": True, "micro_deposits", "drift"?} or {"ok": False, "error", "drift"?}). Drift lists
    are compared only when `features` has "drift" and the expected outcome carries one."""
    if "protocol_error" in reply:
        return FAIL, f"protocol {reply['protocol_error']}: {reply['message']}", ["protocol"]
    if reply.get("skipped"):
        return SKIPPED, reply.get("reason", "skipped by the adapter"), list(rules)
    if reply.get("errored"):
        return ERRORED, f"implementation crashed: {reply.get('message', '')}", list(rules)
    judge_drift = "drift" in features
    if expected["ok"] and reply.get("ok"):
        exp = {"micro_deposits": expected["micro_deposits"]}
        act = {"micro_deposits": reply["micro_deposits"]}
        if not oracle.canonical_equal(exp, act):
            difference = oracle.first_difference(exp, act) or "records differ"
            return FAIL, difference, rules_for_records(exp["micro_deposits"], act["micro_deposits"], difference, rules)
        drift = drift_difference(expected.get("drift"), reply) if judge_drift else None
        return (FAIL, drift[0], drift[1]) if drift else (PASS, "", list(rules))
    if not expected["ok"] and not reply.get("ok") and reply.get("error") == expected["error"]:
        if judge_drift and expected["error"] == "schema_drift":
            drift = drift_difference(expected.get("drift"), reply)
            if drift:
                return FAIL, drift[0], drift[1]
        return PASS, "", list(rules)
    return FAIL, f"expected {_summary(expected)}, got {_summary(reply)}", list(rules) or ["S14"]


# ---------------------------------------------------------------------------------------------
# Secrets and personal data in replies (S22)


@functools.lru_cache(maxsize=256)
def secret_pattern(secret: str) -> re.Pattern:
    """The secret, with any of its characters percent-encoded (%HH, hex digits in any case): the
    forms S22a says a server may echo and an implementation must redact."""
    parts = []
    for ch in secret:
        encoded = "".join("%" + "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{byte:02X}")
                          for byte in ch.encode("utf-8"))
        parts.append(f"(?:{re.escape(ch)}|{encoded})")
    return re.compile("".join(parts))


def reply_strings(reply: dict) -> Iterator[tuple[str, str]]:
    """(where, text) for every string of a reply, member names included, except the records of
    an ok reply: they are the server's data, exact by S12, and judged against the oracle."""

    def walk(value: Any, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, f"{where}[{index}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                if not where and key == "micro_deposits" and value.get("ok") is True:
                    continue
                inner = f"{where}.{key}" if where else str(key)
                yield f"member name {inner}", str(key)
                yield from walk(item, inner)

    yield from walk(reply, "")


def token_problems(reply: dict, stderr: str, secrets: Iterable[str | None]) -> list[str]:
    """Where the session token (or another secret of the call, such as the refresh token) shows
    in the reply or in what the adapter wrote to stderr during the case (S22a)."""
    problems = []
    for secret in secrets:
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            continue
        pattern = secret_pattern(secret)
        for where, text in reply_strings(reply):
            match = pattern.search(text)
            if match:
                how = "" if match.group(0) == secret else " (percent-encoded)"
                problems.append(f"the reply's {where} holds the session token{how}")
        match = pattern.search(stderr)
        if match:
            how = "" if match.group(0) == secret else " (percent-encoded)"
            problems.append(f"the adapter's stderr during this case holds the session token{how}")
    return problems


def pii_values(body: bytes) -> list[str]:
    """S22b's personal data in a 2xx body, as a message could show it: the strings (and, for an
    account number, the decimal form of an integer) of the PII_FIELDS of every micro_deposit
    object, PII_MIN_LENGTH characters or more, that do not occur in the body's other text (every
    other string, member name and integer) or in _VOCABULARY. [] when the body is not JSON."""
    try:
        document, _facts = oracle.parse_json(body)
    except oracle.Malformed:
        return []
    items = document.get("micro_deposits") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return []
    found: set[str] = set()
    other: list[str] = list(_VOCABULARY)

    def gather(value: Any) -> None:
        if isinstance(value, str):
            other.append(value)
        elif type(value) is int:
            other.append(oracle.decimal_str(value))
        elif isinstance(value, list):
            for item in value:
                gather(item)
        elif isinstance(value, dict):
            for key, item in value.items():
                other.append(key)
                gather(item)

    gather({k: v for k, v in document.items() if k != "micro_deposits"})
    for item in items:
        record = item.get("micro_deposit") if isinstance(item, dict) else None
        if not isinstance(record, dict):
            gather(item)
            continue
        gather({k: v for k, v in item.items() if k != "micro_deposit"})
        for key, value in record.items():
            other.append(key)
            if key in PII_FIELDS and (type(value) is str or (type(value) is int and key == "account_number")):
                text = value if type(value) is str else oracle.decimal_str(value)
                if len(text) >= PII_MIN_LENGTH:
                    found.add(text)
                    continue
            gather(value)
    context = "\n".join(other)
    return sorted(v for v in found if v not in context)


def _shows(text: str, value: str) -> bool:
    """`value` occurs in `text` as a whole: not run into a letter or digit that continues it
    (so 12345 is not found in 0123456, but is in "account 12345.")."""
    start = text.find(value)
    while start >= 0:
        before = text[start - 1] if start else ""
        end = start + len(value)
        after = text[end] if end < len(text) else ""
        if not (before.isalnum() and value[0].isalnum()) and not (after.isalnum() and value[-1].isalnum()):
            return True
        start = text.find(value, start + 1)
    return False


def pii_problems(reply: dict, values: Iterable[str]) -> list[str]:
    """Where a reply shows one of the body's personal data values outside its records (S22b)."""
    values = list(values)
    if not values:
        return []
    problems = []
    for where, text in reply_strings(reply):
        for value in values:
            if _shows(text, value):
                problems.append(f"the reply's {where} shows personal data of the body ({len(value)} characters; "
                                "S22b: email, names and full account numbers are never shown)")
                break
    return problems


def with_secret_problems(verdict: tuple[str, str, list[str]], rule: str,
                         problems: list[str]) -> tuple[str, str, list[str]]:
    """A verdict with S22 problems added: a pass or skip becomes a failure; a failure or crash
    keeps its status and gains the rule and the messages."""
    if not problems:
        return verdict
    status, message, rules = verdict
    text = f"{rule}: " + "; ".join(problems[:3])
    named = [*rules, rule] if rule not in rules else list(rules)
    if status in (PASS, SKIPPED):
        return FAIL, text, [rule]
    return status, f"{message}; {text}" if message else text, named


def _body_shown(body: bytes) -> dict:
    """The body for a failure report: text when it is short valid UTF-8, always base64."""
    shown: dict[str, Any] = {"body_b64": base64.b64encode(body).decode("ascii"), "body_bytes": len(body)}
    try:
        text = body.decode("utf-8")
        shown["body_text"] = text if len(text) <= 2000 else text[:2000] + "..."
    except UnicodeDecodeError:
        pass
    return shown


def _attach_stderr(adapter: Adapter, result: CaseResult, stderr: str | None = None) -> None:
    """What the adapter wrote to stderr during this case, for a failure report."""
    if result.status in (FAIL, ERRORED):
        text = adapter.case_stderr() if stderr is None else stderr
        if text:
            result.details["stderr_tail"] = text[-2000:]


# ---------------------------------------------------------------------------------------------
# (a) golden vectors


def run_vectors(adapter: Adapter, config: RunConfig, progress: Progress) -> list[CaseResult]:
    """Each vector: the adapter must match the vector's expected outcome; the oracle must too
    (a disagreement, or the oracle raising, is a kit bug, reported as `kit:vectors`)."""
    from nexus_micro_kit import golden

    vectors = golden.load_vectors()
    if config.vectors is not None:
        vectors = [v for v in vectors if any(fnmatch.fnmatchcase(v["id"], p) for p in config.vectors)]
    progress.phase("vectors", len(vectors))
    calls = PhaseCalls(adapter, "vectors")
    results, disagreements = [], []
    for vector in vectors:
        inp = vector["input"]
        status, headers, strict = inp.get("status", 200), inp.get("headers", []), inp.get("strict", False)
        expected = _expected_from_vector(vector["expected"])
        covers = list(vector.get("rules", []))
        pii: list[str] = []
        try:
            oracle_says = oracle.expect_parse(status, headers, vector["body_bytes"], strict)
            pii = pii_values(vector["body_bytes"]) if 200 <= status <= 299 else []
        except Exception as exc:  # a kit bug: the adapter is still judged against the vector
            disagreements.append(f"{vector['id']}: the oracle raised {type(exc).__name__}: {exc}")
        else:
            problem = _disagreement(expected, oracle_says)
            if problem:
                disagreements.append(f"{vector['id']}: {problem}")
            elif "drift" not in expected and "drift" in oracle_says:
                expected["drift"] = oracle_says["drift"]  # the oracle's notes, when the vector has none
        if "drift" in adapter.features and "drift" in expected:
            covers.append("S11")
        if pii:
            covers.append("S22b")
        tier = vector.get("tier", "required")
        started = time.perf_counter()
        reply: dict = {}
        if "parse" not in adapter.ops:
            outcome = (SKIPPED, "adapter does not implement parse", list(vector.get("rules", [])))
        else:
            reply = calls.call(parse_request(status, headers, vector["body_bytes"], strict))
            outcome = judge_parse(expected, reply, list(vector.get("rules", [])), adapter.features)
            outcome = with_secret_problems(outcome, "S22b", pii_problems(reply, pii))
        result = CaseResult(
            id=f"vector:{vector['id']}", kind="vector", group=tier, status=outcome[0], rules=outcome[2],
            message=outcome[1], seconds=time.perf_counter() - started,
            counts=tier == "required" or config.require_recommended, covers=list(dict.fromkeys(covers)),
            details={"file": vector.get("file"), "description": vector.get("description", ""),
                     "status": status, "strict": strict, **_body_shown(vector["body_bytes"])})
        if reply and reply.get("protocol_error") != NOT_RUN:
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


def _disagreement(expected: dict, oracle_says: dict) -> str | None:
    """How the oracle's outcome differs from a vector's (records, category, drift), or None."""
    if expected["ok"] != oracle_says["ok"] or (not expected["ok"] and expected["error"] != oracle_says["error"]):
        return f"vector says {_summary(expected)}, oracle says {_summary(oracle_says)}"
    if expected["ok"]:
        difference = oracle.first_difference({"micro_deposits": expected["micro_deposits"]},
                                             {"micro_deposits": oracle_says["micro_deposits"]})
        if difference:
            return f"records: {difference}"
    if "drift" in expected:
        drift = drift_difference(expected["drift"], oracle_says)
        if drift:
            return f"the oracle's {drift[0]}"
    return None


# ---------------------------------------------------------------------------------------------
# (b) properties


class _Mismatch(AssertionError):
    """Raised inside the property; carries the failing example's report."""

    def __init__(self, status: str, details: dict):
        super().__init__(details.get("difference", ""))
        self.status = status
        self.details = details


def _hypothesis_blames_the_adapter(exc: BaseException) -> bool:
    """Hypothesis's Flaky errors other than a flaky strategy mean the same input got different
    answers: the adapter's fault. Every other exception escaping a property is the kit's."""
    from hypothesis import errors

    return isinstance(exc, errors.Flaky) and not isinstance(exc, errors.FlakyStrategyDefinition)


def run_property(adapter: Adapter, profile: str, config: RunConfig,
                 calls: PhaseCalls | None = None) -> list[CaseResult]:
    """One hypothesis property: the adapter's reply equals oracle.expect_parse (drift included
    with the drift feature; no personal data in messages, S22b). On failure the result holds
    hypothesis's shrunk counterexample and the seed that reproduces it."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

    from nexus_micro_kit import spec, strategies

    calls = calls or PhaseCalls(adapter, "properties")
    stats = {"examples": 0, "skipped": 0}
    kit_bugs: list[str] = []
    hung: list[_Mismatch] = []
    covered: set[str] = set()

    def check(case: dict) -> None:
        status, headers, body, strict = case["status"], case["headers"], case["body"], case["strict"]
        if hung:  # after a hang, do not wait again for every shrink step
            raise hung[0]
        stats["examples"] += 1
        try:
            expected = oracle.expect_parse(status, headers, body, strict)
            pii = pii_values(body) if 200 <= status <= 299 else []
            if profile == "spec":
                _check_spec_case(spec, body, strict, expected, kit_bugs)
        except Exception as exc:  # a kit bug, not the implementation's
            kit_bugs.append(f"the kit raised {type(exc).__name__}: {exc} on {body[:120]!r}")
            return
        covered.update(expected.get("rules", []))
        if pii:
            covered.add("S22b")
        reply = calls.call(parse_request(status, headers, body, strict))
        verdict = judge_parse(expected, reply, list(expected.get("rules", [])), adapter.features)
        verdict, message, rules = with_secret_problems(verdict, "S22b", pii_problems(reply, pii))
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
        if reply.get("protocol_error") != NOT_RUN:
            details["stderr_tail"] = adapter.case_stderr()[-2000:]  # this example's own stderr
        error = _Mismatch(FAIL if verdict == FAIL else ERRORED, details)
        if reply.get("protocol_error") in (HANG, NOT_RUN):
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
        stderr = found.pop("stderr_tail", "")
        result = CaseResult(case_id, "property", profile, exc.status, found["rules"],
                            f"{found['difference']} (seed {config.seed})", details=found)
        if stderr:
            result.details["stderr_tail"] = stderr
    except Exception as exc:
        if not _hypothesis_blames_the_adapter(exc):
            kit_bugs.append(f"the property raised {type(exc).__name__}: {str(exc)[:500]}")
            result = CaseResult(case_id, "property", profile, SKIPPED, [],
                                f"not judged: the kit failed (see kit:property:{profile})")
        else:  # the same input got different answers
            result = CaseResult(case_id, "property", profile, FAIL, ["protocol"],
                                f"{type(exc).__name__}: {str(exc)[:500]} (seed {config.seed})")
    result.seconds = time.perf_counter() - started
    result.details.setdefault("examples", stats["examples"])
    result.covers = sorted(covered, key=_rule_order)
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
    calls = PhaseCalls(adapter, "properties")
    results = []
    for profile in config.profiles:
        if "parse" not in adapter.ops:
            produced = [CaseResult(f"property:{profile}", "property", profile, SKIPPED, [],
                                   "adapter does not implement parse")]
        else:
            with _seed_only_generation():
                produced = run_property(adapter, profile, config, calls)
        for result in produced:
            results.append(result)
            progress.case(result)
    progress.end_phase()
    return results


# ---------------------------------------------------------------------------------------------
# (c) HTTP scenarios


def run_http(adapter: Adapter, config: RunConfig, progress: Progress) -> list[CaseResult]:
    """Each scenario: one fetch against the kit's fake Nexus server, judged by the server; the
    runner adds the secrets checks (S22a on the reply and the case's stderr, S22b on messages)."""
    from nexus_micro_kit import server

    names = list(config.scenarios) if config.scenarios is not None else list(server.SCENARIOS)
    unknown = [n for n in names if n not in server.SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(unknown)}")
    progress.phase("http", len(names))
    calls = PhaseCalls(adapter, "http")
    # Personal data the fake server sends in its 2xx bodies (S22b): what no message may show.
    ok_body = getattr(server, "OK_BODY", None)
    pii = pii_values(json.dumps(ok_body).encode("utf-8")) if ok_body is not None else []
    results = []
    with server.FakeNexus() as nexus:
        for name in names:
            try:
                result = _run_scenario(adapter, calls, nexus, name, server, pii)
            except Exception as exc:  # the server or judge failed: a kit bug, not the adapter's
                result = _kit_case(f"kit:http:{name}", exc, f"scenario {name}")
            results.append(result)
            progress.case(result)
    progress.end_phase()
    return results


def _run_scenario(adapter: Adapter, calls: PhaseCalls, nexus: Any, name: str, server: Any,
                  pii: list[str]) -> CaseResult:
    case_id = f"http:{name}"
    started = time.perf_counter()
    trial = nexus.prepare(name, timeout=2.0)
    rules = list(trial.rules)
    covers = [*rules, "S22a"]
    needed = server.SCENARIO_FEATURES.get(name, ())
    missing = [f for f in needed if f not in adapter.features]
    if "fetch" not in adapter.ops:
        return CaseResult(case_id, "http", "http", SKIPPED, rules, "adapter does not implement fetch", covers=covers)
    if missing:
        return CaseResult(case_id, "http", "http", SKIPPED, rules,
                          f"needs the adapter feature {', '.join(missing)} (protocol revision 2), which the "
                          "start reply does not list", covers=covers)
    request = {"op": "fetch", **trial.fetch}
    for member, feature in (("deadline", "deadline"), ("refresh_token", "token_provider")):
        if feature not in adapter.features:  # never send a member the adapter did not ask for
            request.pop(member, None)
    reply = calls.call(request)
    problems = trial.judge(reply, features=adapter.features)  # the server judges fetch drift lists
    details = {"description": server.SCENARIOS[name], "reply": _reply_summary(reply)}
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
    stderr = adapter.case_stderr() if reply.get("protocol_error") != NOT_RUN else ""
    if "protocol_error" not in reply:
        secrets = (trial.fetch.get("token"), trial.fetch.get("refresh_token"))
        status, message, named = with_secret_problems((status, message, named), "S22a",
                                                      token_problems(reply, stderr, secrets))
        status, message, named = with_secret_problems((status, message, named), "S22b", pii_problems(reply, pii))
    result = CaseResult(case_id, "http", "http", status, named, message, details,
                        time.perf_counter() - started, covers=list(dict.fromkeys(covers)))
    _attach_stderr(adapter, result, stderr)
    return result


# ---------------------------------------------------------------------------------------------
# Coverage: every rule of SEMANTICS.md and the cases of this run that exercised it

_HEADING_OR_SUBRULE = re.compile(r"^### (S[0-9]+)\.|\*\*(S[0-9]+[a-z])\b", re.M)


def semantics_rules(text: str) -> list[str]:
    """Rule ids of SEMANTICS.md in document order: the `### S<n>.` headings and the `**S<n><letter>`
    sub-rules."""
    return list(dict.fromkeys(m.group(1) or m.group(2) for m in _HEADING_OR_SUBRULE.finditer(text)))


def _rule_order(rule: str) -> tuple:
    match = re.fullmatch(r"S([0-9]+)([a-z]?)", rule)
    return (0, int(match.group(1)), match.group(2)) if match else (1, 0, rule)


def coverage(results: Iterable[CaseResult], rules: list[str]) -> dict[str, dict]:
    """rule -> {"level": "MUST" or "not judged", "cases": number of cases that named or exercised
    it}. A heading rule (S9) also counts the cases of its sub-rules (S9a...)."""
    named = [set(r.rules) | set(r.covers) for r in results]
    table = {}
    for rule in rules:
        sub = re.compile(re.escape(rule) + "[a-z]")
        cases = sum(1 for ids in named if rule in ids or any(sub.fullmatch(i) for i in ids))
        table[rule] = {"level": "not judged" if rule in NOT_JUDGED else "MUST", "cases": cases}
        if rule in NOT_JUDGED:
            table[rule]["why"] = NOT_JUDGED[rule]
    return table


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


@contextlib.contextmanager
def _ended_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run as Ctrl-C (SIGINT) does: by an exception, so that run()
    kills the adapter's process group on the way out (it runs in its own session and would
    not get the signal). Only the main thread can install handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        for other in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(other, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        raise Interrupted(signum)

    saved = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def run(adapter: Adapter, config: RunConfig, progress: Progress | None = None) -> RunResult:
    """Open the adapter, run the selected phases, close it, apply the expected-failure list.
    Interrupted (KeyboardInterrupt, SIGTERM, SIGHUP), it kills the adapter and re-raises."""
    progress = progress or Progress()
    started = time.perf_counter()
    results: list[CaseResult] = []
    phase_stats: dict[str, dict] = {}
    adapter.time_zone = config.time_zone
    with _ended_by_signals():
        try:
            protocol.load_schema()  # the kit's own data: a missing schema is the kit's fault
        except resources.KitDataError as exc:
            results.append(_kit_case("kit:protocol", exc, "loading the protocol schema"))
            return _result(adapter, config, results, started, phase_stats, "")
        try:
            adapter.open()
        except BaseException:
            adapter.kill()
            raise
        try:
            for phase, function in (("vectors", run_vectors), ("properties", run_properties), ("http", run_http)):
                if phase not in config.phases:
                    continue
                calls, begun = adapter.calls, time.perf_counter()
                try:
                    results += function(adapter, config, progress)
                except Exception as exc:  # KitDataError, a bug of the oracle, strategies or server
                    if isinstance(exc, ValueError) and str(exc).startswith("unknown scenario"):
                        raise  # a usage error (--scenario), reported by the CLI
                    results.append(_kit_case(f"kit:{phase}", exc, f"the {phase} phase"))
                    progress.case(results[-1])
                    progress.end_phase()
                phase_stats[phase] = {"calls": adapter.calls - calls, "seconds": time.perf_counter() - begun}
        except BaseException:
            adapter.kill()
            raise
        tail = adapter.stderr_tail()
        adapter.close()
    return _result(adapter, config, results, started, phase_stats, tail)


def _result(adapter: Adapter, config: RunConfig, results: list[CaseResult], started: float,
            phase_stats: dict, tail: str) -> RunResult:
    try:
        rules = semantics_rules(resources.read_spec("SEMANTICS.md"))
    except resources.KitDataError as exc:
        rules = []
        results.append(_kit_case("kit:coverage", exc, "reading SEMANTICS.md for the coverage table"))
    apply_expected_failures(results, config.expected_failures)
    mode = "subprocess" if adapter.__class__.__name__ == "SubprocessAdapter" else "in-process"
    return RunResult(config, dict(adapter.implementation), adapter.description, mode, results,
                     time.perf_counter() - started, adapter.calls, adapter.restarts, tail, phase_stats,
                     sorted(adapter.features), coverage(results, rules))
