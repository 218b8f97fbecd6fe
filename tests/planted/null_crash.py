"""Planted bug (S5a): crashes (TypeError) on a field sent as JSON null."""

from tests.planted._base import items_of, wrap


def _before(message: dict) -> dict:
    for item in items_of(message):
        record = item.get("micro_deposit") if isinstance(item, dict) else None
        if isinstance(record, dict) and any(value is None for value in record.values()):
            raise TypeError("'NoneType' object is not subscriptable")
    return message


handle = wrap(before=_before, name="planted-null-crash")
