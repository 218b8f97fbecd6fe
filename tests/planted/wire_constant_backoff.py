"""Planted bug (S17c): waits a constant 1 s between retries instead of full jitter"""

from tests.planted._fetch import handler

handle = handler("constant_backoff")
