"""Planted bug (S20c): reads error bodies whole, past 64 KiB"""

from tests.planted._fetch import handler

handle = handler("error_body_uncapped")
