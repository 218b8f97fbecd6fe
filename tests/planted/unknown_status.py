"""Planted bug (S10): loses unknown status integers (42 -> null) instead of keeping them."""

from tests.planted._base import map_records, wrap


def _forget(record: dict) -> None:
    if isinstance(record.get("status"), int) and not 0 <= record["status"] <= 9:
        record["status"] = None


handle = wrap(after=map_records(_forget), name="planted-unknown-status")
