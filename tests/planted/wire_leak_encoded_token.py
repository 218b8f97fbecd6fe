"""Planted bug (S22a): redacts the token from messages only as sent, not percent-encoded"""

from tests.planted._fetch import handler

handle = handler("leak_encoded_token")
