"""Planted bug (S14): skips 101 Switching Protocols as if it were an interim response"""

from tests.planted._fetch import handler

handle = handler("interim_101")
