"""Planted bug (S22a): does not verify TLS certificates, so the token goes to any server"""

from tests.planted._fetch import handler

handle = handler("no_tls_verify")
