"""Planted bug (S17c): accepts Retry-After seconds with a fraction or a sign (1.5 is waited for)"""

from tests.planted._fetch import handler

handle = handler("float_retry_after")
