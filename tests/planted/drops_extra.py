"""Planted bug (S5b): drops the extra fields of a record (`extra` is always {})."""

from tests.planted._base import map_records, wrap


def _drop(record: dict) -> None:
    record["extra"] = {}


handle = wrap(after=map_records(_drop), name="planted-drops-extra")
