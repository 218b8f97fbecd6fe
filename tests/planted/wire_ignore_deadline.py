"""Planted bug (S21b): ignores the deadline"""

from tests.planted._fetch import handler

handle = handler("ignore_deadline")
