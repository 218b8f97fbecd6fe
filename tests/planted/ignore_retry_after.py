"""Planted bug (S17b): ignores Retry-After (retries after the jitter only, even past the cap)"""

from tests.planted._fetch import handler

handle = handler("ignore_retry_after")
