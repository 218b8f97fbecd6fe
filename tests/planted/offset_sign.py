"""Planted bug (S9a): mis-reads a UTC offset, adding it instead of subtracting it
("+05:30" is read as "-05:30")."""

import re

from tests.planted._base import body_of, with_body, wrap

_OFFSET = re.compile(rb'(T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)([+-])([0-9]{2}:[0-9]{2}")')


def _before(message: dict) -> dict:
    flip = {b"+": b"-", b"-": b"+"}
    body = _OFFSET.sub(lambda m: m.group(1) + flip[m.group(2)] + m.group(3), body_of(message))
    return with_body(message, body)


handle = wrap(before=_before, name="planted-offset-sign")
