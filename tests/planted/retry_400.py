"""Planted bug (S17): retries a 400"""

from tests.planted._fetch import handler

handle = handler("retry_400")
