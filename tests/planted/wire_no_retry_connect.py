"""Planted bug (S17a): does not retry failures before the request was sent (refused, reset at connect)"""

from tests.planted._fetch import handler

handle = handler("no_retry_connect")
