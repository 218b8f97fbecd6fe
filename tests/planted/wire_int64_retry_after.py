"""Planted bug (S16): ignores a Retry-After past a 64-bit integer instead of taking it as over the cap"""

from tests.planted._fetch import handler

handle = handler("int64_retry_after")
