"""Reports of a conformance run: progress on stderr, a text summary, JSON and JUnit XML files."""

from __future__ import annotations

import json
import sys
import time
import xml.etree.ElementTree as ET
from typing import TextIO

from nexus_micro_kit.runner import ERRORED, FAIL, PASS, SKIPPED, XFAIL, XPASS, CaseResult, Progress, RunResult

REPORT_FORMAT = 1
MARK = {PASS: ".", FAIL: "F", ERRORED: "E", SKIPPED: "s", XFAIL: "x", XPASS: "U"}
COLUMNS = (PASS, FAIL, ERRORED, SKIPPED, XFAIL, XPASS)
HEADINGS = ("pass", "fail", "errored", "skipped", "xfail", "xpass")


class StderrProgress(Progress):
    """One line per phase, one character per case (. F E s), on stderr."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.started = 0.0

    def phase(self, name: str, total: int | None) -> None:
        self.started = time.perf_counter()
        self.stream.write(f"{name:<11}({total if total is not None else '?'}) ")
        self.stream.flush()

    def case(self, result: CaseResult) -> None:
        self.stream.write(MARK.get(result.status, "?"))
        self.stream.flush()

    def end_phase(self) -> None:
        self.stream.write(f"  {time.perf_counter() - self.started:.1f} s\n")
        self.stream.flush()


def _table(title: str, rows: dict[str, dict[str, int]]) -> list[str]:
    width = max([len(title)] + [len(k) for k in rows])
    head = f"{title:<{width}}  " + " ".join(f"{h:>8}" for h in HEADINGS)
    lines = [head, "-" * len(head)]
    for key in sorted(rows, key=_rule_key):
        lines.append(f"{key:<{width}}  " + " ".join(f"{rows[key].get(c, 0):>8}" for c in COLUMNS))
    return lines


def _rule_key(rule: str) -> tuple:
    """S2 < S10 < S10a; other names after."""
    if rule[:1] == "S" and rule[1:2].isdigit():
        digits = "".join(ch for ch in rule[1:] if ch.isdigit())
        return (0, int(digits), rule)
    return (1, 0, rule)


def coverage_table(run: RunResult) -> list[str]:
    """Every rule of SEMANTICS.md (then the kit's own names, `protocol` and `kit`): its level,
    how many cases of this run exercised it, and the statuses of the cases that named it."""
    statuses = by_rule(run)
    rules = list(run.coverage) + sorted((r for r in statuses if r not in run.coverage), key=_rule_key)
    head = f"{'rule':<9} {'level':<10} {'cases':>6}  " + " ".join(f"{h:>8}" for h in HEADINGS)
    lines = [head, "-" * len(head)]
    for rule in rules:
        row = run.coverage.get(rule, {})
        level, cases = row.get("level", ""), row.get("cases", "")
        counts = " ".join(f"{statuses.get(rule, {}).get(c, 0):>8}" for c in COLUMNS)
        flag = "   <- no case" if level == "MUST" and not cases else ""
        lines.append(f"{rule:<9} {level:<10} {cases!s:>6}  {counts}{flag}")
    missing = run.must_without_cases()
    if missing:
        lines.append(f"MUST rules without a case in this run ({', '.join(run.config.phases)}): {', '.join(missing)}")
    return lines


def by_rule(run: RunResult) -> dict[str, dict[str, int]]:
    """Counts per rule id (a case counts once for each rule it names)."""
    rows: dict[str, dict[str, int]] = {}
    for result in run.results:
        for rule in result.rules:  # a passing property names no rule
            row = rows.setdefault(rule, {})
            row[result.status] = row.get(result.status, 0) + 1
    return rows


def by_group(run: RunResult) -> dict[str, dict[str, int]]:
    """Counts per kind and profile/tier (vector/required, property/hostile, http, kit)."""
    rows: dict[str, dict[str, int]] = {}
    for result in run.results:
        key = result.kind if result.kind in ("http", "kit") else f"{result.kind}/{result.group}"
        row = rows.setdefault(key, {})
        row[result.status] = row.get(result.status, 0) + 1
    return rows


def implementation_line(run: RunResult) -> str:
    impl = run.implementation
    return (f"{impl.get('name', '?')} {impl.get('version', '?')} ({impl.get('language', '?')}), "
            f"{run.mode}: {run.adapter}")


def cases_per_second(run: RunResult) -> float:
    """Adapter calls per second over the whole run (each property example is one call)."""
    return run.calls / run.seconds if run.seconds > 0 else 0.0


def text_summary(run: RunResult) -> str:
    """The final report: implementation, tables, failures, totals."""
    lines = [f"implementation: {implementation_line(run)}",
             f"features: {', '.join(run.features) or 'none'} (protocol 1 revision 2)   "
             f"time zone: {run.config.time_zone or 'not set'}",
             f"seed: {run.config.seed}   examples per profile: {run.config.examples}", ""]
    lines += [*_table("kind", by_group(run)), ""]
    lines += [*coverage_table(run), ""]
    shown = [r for r in run.results if r.status in (FAIL, ERRORED, XPASS, XFAIL)]
    if shown:
        lines.append("failures:")
    for result in shown:
        tag = {XFAIL: " (expected)", XPASS: ""}.get(result.status, "")
        if result.status in (FAIL, ERRORED) and not result.counts:
            tag = " (recommended tier: does not fail the run)"
        lines.append(f"  {result.status.upper()}{tag} {result.id} [{', '.join(result.rules)}]")
        if result.message:
            lines.append(f"      {result.message}")
        for key in ("status", "strict", "body_text", "body_b64", "expected", "actual", "reproduce"):
            if result.kind == "property" and key in result.details:
                value = result.details[key]
                if key == "body_text":
                    value = json.dumps(value, ensure_ascii=True)[:600]
                elif key == "body_b64" and "body_text" in result.details:
                    continue
                lines.append(f"      {key}: {str(value)[:600]}")
        if result.status in (FAIL, ERRORED) and result.details.get("stderr_tail"):
            tail = result.details["stderr_tail"].rstrip().splitlines()[-5:]
            lines += ["      stderr (this case): " + t for t in tail]
    counts = run.counts()
    total = ", ".join(f"{counts[s]} {s}" for s in COLUMNS if counts[s])
    lines += ["", f"{len(run.results)} cases: {total}",
              f"{run.calls} adapter calls in {run.seconds:.1f} s = {cases_per_second(run):.0f} calls/s "
              f"({run.mode}); {run.restarts} restart(s)"]
    for phase, stats in run.phases.items():
        rate = stats["calls"] / stats["seconds"] if stats["seconds"] > 0 else 0.0
        lines.append(f"  {phase:<10} {stats['calls']:>6} calls in {stats['seconds']:6.1f} s = {rate:6.0f} calls/s")
    unexpected = run.unexpected()
    lines.append("RESULT: " + (f"FAIL ({len(unexpected)} unexpected)" if unexpected else "PASS"))
    return "\n".join(lines) + "\n"


def to_json(run: RunResult) -> dict:
    """The machine report (`--json FILE`)."""
    config = run.config
    return {
        "report_format": REPORT_FORMAT,
        "protocol": 1,
        "implementation": run.implementation,
        "adapter": run.adapter,
        "mode": run.mode,
        "seed": config.seed,
        "examples": config.examples,
        "phases": list(config.phases),
        "profiles": list(config.profiles),
        "seconds": round(run.seconds, 3),
        "adapter_calls": run.calls,
        "calls_per_second": round(cases_per_second(run), 1),
        "restarts": run.restarts,
        "phase_stats": {k: {"calls": v["calls"], "seconds": round(v["seconds"], 3)} for k, v in run.phases.items()},
        "features": list(run.features),
        "time_zone": config.time_zone,
        "counts": run.counts(),
        "by_rule": by_rule(run),
        "coverage": run.coverage,
        "must_without_cases": run.must_without_cases(),
        "by_kind": by_group(run),
        "exit_code": run.exit_code(),
        "cases": [r.to_json() for r in run.results],
    }


def write_json(run: RunResult, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(to_json(run), handle, indent=2, ensure_ascii=False, default=str)
        handle.write("\n")


def _clean(text: str) -> str:
    """XML 1.0 cannot hold most control characters (bodies may contain them)."""
    return "".join(ch if ch in "\t\n\r" or (" " <= ch <= "\ud7ff") or ("\ue000" <= ch <= "\ufffd")
                   or ch > "\uffff" else f"\\x{ord(ch):02x}" for ch in text)


def to_junit(run: RunResult) -> ET.Element:
    """JUnit XML: one testsuite per kind, one testcase per case id."""
    impl = run.implementation.get("name", "implementation")
    root = ET.Element("testsuites", name=f"conformance {impl}", tests=str(len(run.results)),
                      time=f"{run.seconds:.3f}")
    suites: dict[str, ET.Element] = {}
    for result in run.results:
        suite = suites.get(result.kind)
        if suite is None:
            suite = suites[result.kind] = ET.SubElement(root, "testsuite", name=f"{impl}.{result.kind}")
        case = ET.SubElement(suite, "testcase", classname=f"{impl}.{result.kind}.{result.group}",
                             name=result.id, time=f"{result.seconds:.3f}")
        text = _clean(json.dumps(result.details, ensure_ascii=False, default=str, indent=1)[:8000])
        message = _clean(f"[{', '.join(result.rules)}] {result.message}"[:2000])
        if result.status in (FAIL, ERRORED) and not result.counts:
            ET.SubElement(case, "skipped", message=f"recommended tier {result.status}: " + message)
        elif result.status == FAIL or (result.status == XPASS and run.config.strict_expected):
            ET.SubElement(case, "failure", message=message, type=result.status).text = text
        elif result.status == ERRORED:
            ET.SubElement(case, "error", message=message, type="errored").text = text
        elif result.status == SKIPPED:
            ET.SubElement(case, "skipped", message=_clean(result.message))
        elif result.status == XFAIL:
            ET.SubElement(case, "skipped", message="expected failure: " + message)
        elif result.status == XPASS:
            ET.SubElement(case, "system-out").text = _clean(result.message)
    for suite in suites.values():
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
        suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    return root


def write_junit(run: RunResult, path: str) -> None:
    tree = ET.ElementTree(to_junit(run))
    if hasattr(ET, "indent"):  # Python 3.9+
        ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
