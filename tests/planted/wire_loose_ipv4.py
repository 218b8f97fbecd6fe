"""Planted bug (S13d): accepts every IPv4 form inet_aton takes (127.1, 0x7f.0.0.1, 2130706433, ...) as loopback"""

from tests.planted._fetch import handler

handle = handler("loose_ipv4")
