"""Planted bug (S16): reads HTTP-date months from a table off by one (Jan is 0)"""

from tests.planted._fetch import handler

handle = handler("month_off_by_one")
