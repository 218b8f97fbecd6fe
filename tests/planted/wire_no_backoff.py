"""Planted bug (S17c): retries at once, never waiting (no full jitter)"""

from tests.planted._fetch import handler

handle = handler("no_backoff")
