"""Planted bug (S20d): fails on a Content-Length past a 64-bit integer instead of reporting response_too_large"""

from tests.planted._fetch import handler

handle = handler("cl_overflow")
