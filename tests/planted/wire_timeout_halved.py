"""Planted bug (S21a): gives up every network wait at half the timeout"""

from tests.planted._fetch import handler

handle = handler("timeout_halved")
