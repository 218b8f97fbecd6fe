"""Planted bug (S9e): a month table off by one: April, June, September and November get 31
days, so "2021-04-31T..." is accepted (normalised to 1 May) instead of being null with a note."""

import re

from tests.planted._base import body_of, with_body, wrap

_THIRTY_FIRST = re.compile(rb'"([0-9]{4})-(04|06|09|11)-31([Tt])')


def _before(message: dict) -> dict:
    def roll(m: re.Match) -> bytes:
        return b'"%s-%02d-01%s' % (m.group(1), int(m.group(2)) + 1, m.group(3))

    return with_body(message, _THIRTY_FIRST.sub(roll, body_of(message)))


handle = wrap(before=_before, name="planted-month-length")
