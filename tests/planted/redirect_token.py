"""Planted bug (S19/S22a): sends the token across a redirect (urllib's default opener follows it)"""

from tests.planted._fetch import handler

handle = handler("follow_redirects")
