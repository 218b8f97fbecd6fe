"""Planted bug (S7): drops the leading zero(s) of a routing number ("091000019" -> "91000019").
Runs in-process or as a subprocess: `python -m tests.planted.routing_zero`."""

from tests.planted._base import map_records, wrap


def _strip(record: dict) -> None:
    if isinstance(record.get("routing_number"), str) and record["routing_number"][:1] == "0":
        record["routing_number"] = record["routing_number"].lstrip("0")


handle = wrap(after=map_records(_strip), name="planted-routing-zero")

if __name__ == "__main__":
    from nexus_micro_kit.adapters import run_stdio

    run_stdio(handle)
