"""Benchmarks for nexus_micro (issue: parse speed, peak memory, import time). Prints numbers only.

    python bench/bench.py            # parse, memory and import numbers (this interpreter)
    bash bench/run.sh                # the same plus the pydantic v2 comparison in bench/.venv-pydantic

Every figure is a ratio to a baseline measured in the same run, interleaved round by round
(these machines are shared and drift 10-15 %): json.loads of the same bytes for parsing and
memory, and `python -c "import json, dataclasses, datetime, enum, logging"` for import.
"""

from __future__ import annotations

import argparse
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


def peak_memory(n: int) -> None:
    """Peak traced memory of json.loads vs parse_microdeposits on n records, each in a fresh process."""
    code = (
        "import sys, json, tracemalloc; sys.path.insert(0, {root!r}); import nexus_micro, bench.bench as b; "
        "body = b.make_body({n}); tracemalloc.start(); r = {call}(body); "
        "print(tracemalloc.get_traced_memory()[1])"
    )
    results = {}
    for name, call in (("json.loads", "json.loads"), ("parse_microdeposits", "nexus_micro.parse_microdeposits")):
        out = subprocess.run(
            [sys.executable, "-c", code.format(root=str(ROOT), n=n, call=call)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        results[name] = int(out)
    body_len = len(make_body(n))
    print(f"peak memory, {n} records ({body_len / 1e6:.1f} MB body), tracemalloc:")
    for name, peak in results.items():
        print(f"  {name:<34} {peak / 1e6:8.1f} MB   {peak / body_len:4.1f}x body   {peak / results['json.loads']:5.2f}x json.loads")


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
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, nexus_micro {nexus_micro.__version__}")
    if args.only_import:
        import_time(args.import_runs)
        return
    contenders = {"nexus_micro.parse_microdeposits": nexus_micro.parse_microdeposits}
    fields = nexus_micro._FIELDS
    contenders["  ...then read all 17 attributes"] = lambda body: [
        [getattr(r, f) for f in fields] for r in nexus_micro.parse_microdeposits(body)
    ]
    contenders["  ...then to_dict() (canonical)"] = lambda body: [r.to_dict() for r in nexus_micro.parse_microdeposits(body)]
    contenders["  ...strict=True"] = lambda body: nexus_micro.parse_microdeposits(body, strict=True)
    if args.pydantic:
        import importlib

        module, _, name = args.pydantic.partition(":")
        model = getattr(importlib.import_module(module), name)
        contenders["pydantic v2 (datamodel-codegen)"] = model.model_validate_json
    for n in (10, 10_000):
        compare("parse", n, contenders, args.rounds)
    if not args.skip_memory:
        peak_memory(100_000)
    import_time(args.import_runs)


if __name__ == "__main__":
    main()
