"""Planted bug (S14): takes an interim 1xx response as the final one"""

from tests.planted._fetch import handler

handle = handler("no_interim_skip")
