"""Benchmarks for nexus_micro (issue: parse speed, peak memory, import time). Prints numbers only.

    python bench/bench.py            # parse, memory and import numbers (this interpreter)
    bash bench/run.sh                # the same plus the pydantic v2 comparison in bench/.venv-pydantic

Every figure is a ratio to a baseline measured in the same run, interleaved round by round
(these machines are shared and drift 10-15 %): json.loads of the same bytes for parsing and
memory, and `python -c "import json, dataclasses, datetime, enum, logging"` for import.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import nexus_micro  # noqa: E402


def make_body(n: int) -> bytes:
    """n realistic 17-field records (about 500 bytes each), every value distinct where real ones are."""
    items = []
    for i in range(n):
        items.append(
            {
                "micro_deposit": {
                    "account_name": f"Checking {i}",
                    "account_number": f"3333{i:09d}",
                    "account_type": 1 + i % 2,
                    "account_type_name": "CHECKING" if i % 2 == 0 else "SAVINGS",
                    "created_at": f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(7 * i) % 60:02d}.{i % 1000:03d}Z",
                    "email": f"user{i}@example.com",
                    "error_code": None,
                    "error_message": None,
                    "first_name": "Josh",
                    "guid": f"MIC-{i:08x}-8448-4f7f-89e1-b62ff2517edb",
                    "institution_name": "MX Bank",
                    "last_name": "James",
                    "routing_number": "091000019",
                    "status": i % 4,
                    "status_name": ("INITIATED", "REQUESTED", "DEPOSITED", "VERIFIED")[i % 4],
                    "updated_at": f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(7 * i + 1) % 60:02d}.000+00:00",
                    "verified_at": None if i % 4 != 3 else "2021-09-01T18:29:07.000Z",
                }
            }
        )
    return json.dumps({"micro_deposits": items}).encode()


@dataclasses.dataclass(frozen=True)
class _Naive:
    """What a user would write with the standard library alone (no S1-S12 rules): a baseline."""

    account_name: object = None
    account_number: object = None
    account_type: object = None
    account_type_name: object = None
    created_at: object = None
    email: object = None
    error_code: object = None
    error_message: object = None
    first_name: object = None
    guid: object = None
    institution_name: object = None
    last_name: object = None
    routing_number: object = None
    status: object = None
    status_name: object = None
    updated_at: object = None
    verified_at: object = None


def naive_stdlib(body: bytes) -> list:
    """json.loads, a frozen dataclass(**kw) per record and datetime.fromisoformat (3.11+)."""
    fromiso = datetime.datetime.fromisoformat
    out = []
    for item in json.loads(body)["micro_deposits"]:
        kw = item["micro_deposit"]
        for name in ("created_at", "updated_at", "verified_at"):
            if kw.get(name):
                kw[name] = fromiso(kw[name])
        out.append(_Naive(**kw))
    return out


def per_call(fn, body: bytes, number: int) -> float:
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(number):
        fn(body)
    return (time.perf_counter() - t0) / number


def compare(label: str, n: int, contenders: dict, rounds: int) -> None:
    """Interleave json.loads and each contender, round by round; report medians and median ratios."""
    body = make_body(n)
    number = max(1, 20000 // n)
    times: dict[str, list[float]] = {"json.loads": [], **{k: [] for k in contenders}}
    for _ in range(rounds):
        times["json.loads"].append(per_call(json.loads, body, number))
        for name, fn in contenders.items():
            times[name].append(per_call(fn, body, number))
    base = times["json.loads"]
    print(f"{label}: {n} records, {len(body) / n:.0f} B/record, {rounds} interleaved rounds of {number} call(s)")
    for name, ts in times.items():
        ratio = statistics.median(t / b for t, b in zip(ts, base))
        print(f"  {name:<34} {statistics.median(ts) / n * 1e6:8.2f} us/record   {ratio:5.2f}x json.loads")


def traced_peak(body_expr: str, call: str) -> int:
    """Peak traced memory (bytes) of ``call(body)`` in a fresh process; ``body_expr`` makes the body there."""
    code = (
        f"import sys, json, tracemalloc; sys.path.insert(0, {str(ROOT)!r}); import nexus_micro, bench.bench as b; "
        f"body = {body_expr}; tracemalloc.start(); r = {call}(body); print(tracemalloc.get_traced_memory()[1])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return int(out)


def peak_memory(n: int) -> None:
    """Peak traced memory of json.loads vs parse_microdeposits on n records, each in a fresh process."""
    results = {
        name: traced_peak(f"b.make_body({n})", call)
        for name, call in (("json.loads", "json.loads"), ("parse_microdeposits", "nexus_micro.parse_microdeposits"))
    }
    body_len = len(make_body(n))
    print(f"peak memory, {n} records ({body_len / 1e6:.1f} MB body), tracemalloc:")
    for name, peak in results.items():
        print(f"  {name:<34} {peak / 1e6:8.1f} MB   {peak / body_len:4.1f}x body   {peak / results['json.loads']:5.2f}x json.loads")


# Hostile bodies just under the default 10 MiB cap (issue: any body under the cap parses in at
# most 10x the time and 3x the peak memory of json.loads on the same bytes).
HOSTILE_SHAPES = {
    "skipped items [1,1,...]": ('{"micro_deposits":[', "1,", "1]}"),
    "empty items [{},{},...]": ('{"micro_deposits":[', "{},", "{}]}"),
    "empty records": ('{"micro_deposits":[', '{"micro_deposit":{}},', '{"micro_deposit":{}}]}'),
    "one coercion per record": ('{"micro_deposits":[', '{"micro_deposit":{"status":"1"}},', '{"micro_deposit":{}}]}'),
    "{} extras": ('{"micro_deposits":[{"micro_deposit":{"x":[', "{},", "{}]}}]}"),
    "duplicate top-level keys": ("{", '"micro_deposits":[],', '"micro_deposits":[]}'),
    "deep wide arrays": ('{"micro_deposits":[{"micro_deposit":{"x":[', "[[[[[[[[[[1]]]]]]]]]],", "1]}}]}"),
}


def hostile_body(name: str, size: int = 10 * 1024 * 1024) -> bytes:
    prefix, unit, suffix = HOSTILE_SHAPES[name]
    return (prefix + unit * ((size - len(prefix) - len(suffix)) // len(unit)) + suffix).encode()


def hostile(rounds: int) -> None:
    """Time (parse, then len(.drift)) and peak memory against json.loads, per hostile shape."""
    print(f"hostile bodies under the 10 MiB cap, {rounds} interleaved rounds (time), tracemalloc peaks (memory):")
    for name in HOSTILE_SHAPES:
        body = hostile_body(name)
        times: dict[str, list[float]] = {"json.loads": [], "parse + drift": []}
        for _ in range(rounds):
            times["json.loads"].append(per_call(json.loads, body, 1))
            times["parse + drift"].append(per_call(lambda b: len(nexus_micro.parse_microdeposits(b).drift), body, 1))
        ratio = statistics.median(t / b for t, b in zip(times["parse + drift"], times["json.loads"]))
        peaks = {
            label: traced_peak(f"b.hostile_body({name!r})", call)
            for label, call in (("json.loads", "json.loads"), ("parse", "nexus_micro.parse_microdeposits"))
        }
        print(
            f"  {name:<26} json.loads {statistics.median(times['json.loads']) * 1e3:7.0f} ms  "
            f"time {ratio:5.2f}x (target <= 10x)   peak {peaks['json.loads'] / 1e6:6.1f} MB -> "
            f"{peaks['parse'] / 1e6:6.1f} MB = {peaks['parse'] / peaks['json.loads']:4.2f}x (target <= 3x)"
        )


def import_time(runs: int) -> None:
    """Wall time of a fresh `python -c "import ..."`, interleaved, medians.

    The .pyc is written first and used, as for any installed or vendored copy; the
    "no .pyc" row shows the first import after copying the file (compiling 1,400 lines).
    """
    import shutil
    import tempfile

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    fresh = tempfile.mkdtemp()  # a copy with no __pycache__, imported with -B: compiled every run
    shutil.copy(ROOT / "nexus_micro.py", fresh)
    cases = {
        "python -c pass": ["-c", "pass"],
        "stdlib baseline": ["-c", "import json, dataclasses, datetime, enum, logging"],
        "import nexus_micro": ["-c", "import nexus_micro"],
        "import nexus_micro (no .pyc)": ["-B", "-c", f"import sys; sys.path.insert(0, {fresh!r}); import nexus_micro"],
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    subprocess.run([sys.executable, "-c", "import nexus_micro"], cwd=ROOT, check=True, env=env)  # write the .pyc
    for _ in range(runs):
        for name, args in cases.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, *args], cwd=ROOT, check=True, env=env)
            times[name].append(time.perf_counter() - t0)
    base = times["stdlib baseline"]
    print(f"import, {runs} interleaved runs each, Python {sys.version.split()[0]}:")
    for name, ts in times.items():
        ratio = statistics.median(t / b for t, b in zip(ts, base))
        print(f"  {name:<34} {statistics.median(ts) * 1e3:8.1f} ms   {ratio:5.2f}x stdlib baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--pydantic", help="module:Model of a pydantic v2 model of MicrodepositsResponse")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--only-import", action="store_true")
    parser.add_argument("--import-runs", type=int, default=40)
    parser.add_argument("--skip-hostile", action="store_true", help="skip the hostile-body shapes")
    parser.add_argument("--only-hostile", action="store_true")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, nexus_micro {nexus_micro.__version__}")
    if args.only_import:
        import_time(args.import_runs)
        return
    if args.only_hostile:
        hostile(max(3, args.rounds // 5))
        return
    contenders = {"nexus_micro.parse_microdeposits": nexus_micro.parse_microdeposits}
    fields = nexus_micro._FIELDS
    contenders["  ...then read all 17 attributes"] = lambda body: [
        [getattr(r, f) for f in fields] for r in nexus_micro.parse_microdeposits(body)
    ]
    contenders["  ...then to_dict() (canonical)"] = lambda body: [r.to_dict() for r in nexus_micro.parse_microdeposits(body)]
    contenders["  ...strict=True"] = lambda body: nexus_micro.parse_microdeposits(body, strict=True)
    if sys.version_info >= (3, 11):  # fromisoformat takes "Z" from 3.11 on
        contenders["json.loads + frozen dataclass (naive)"] = naive_stdlib
    if args.pydantic:
        import importlib

        module, _, name = args.pydantic.partition(":")
        model = getattr(importlib.import_module(module), name)
        contenders["pydantic v2 (datamodel-codegen)"] = model.model_validate_json
    for n in (10, 10_000):
        compare("parse", n, contenders, args.rounds)
    if not args.skip_memory:
        peak_memory(100_000)
    if not args.skip_hostile:
        hostile(max(3, args.rounds // 5))
    import_time(args.import_runs)


if __name__ == "__main__":
    main()
