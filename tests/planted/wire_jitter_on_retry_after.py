"""Planted bug (S17b): adds full jitter on top of a Retry-After delay"""

from tests.planted._fetch import handler

handle = handler("jitter_on_retry_after")
