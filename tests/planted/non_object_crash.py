"""Planted bug (S3): crashes (AttributeError) on an item of micro_deposits that is not an object."""

from tests.planted._base import items_of, wrap


def _before(message: dict) -> dict:
    for item in items_of(message):
        if not isinstance(item, dict):
            raise AttributeError(f"'{type(item).__name__}' object has no attribute 'get'")
    return message


handle = wrap(before=_before, name="planted-non-object-crash")
