"""Planted bug (S20b): parses a body cut short before its Content-Length"""

from tests.planted._fetch import handler

handle = handler("parse_truncated")
