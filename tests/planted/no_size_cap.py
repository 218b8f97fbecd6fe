"""Planted bug (S20a): accepts a body past max_response_bytes"""

from tests.planted._fetch import handler

handle = handler("no_size_cap")
