"""Planted bug (S8): treats `true` in `status` as the integer 1 (and `false` as 0), no drift."""

import re

from tests.planted._base import body_of, with_body, wrap

_BOOL_STATUS = re.compile(rb'("status"\s*:\s*)(true|false)')


def _before(message: dict) -> dict:
    body = _BOOL_STATUS.sub(lambda m: m.group(1) + (b"1" if m.group(2) == b"true" else b"0"), body_of(message))
    return with_body(message, body)


handle = wrap(before=_before, name="planted-bool-status")
