"""Planted bug (S17): retries a TLS certificate that fails verification"""

from tests.planted._fetch import handler

handle = handler("retry_tls")
