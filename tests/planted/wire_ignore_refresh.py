"""Planted bug (S18): never asks the token provider after a 401"""

from tests.planted._fetch import handler

handle = handler("ignore_refresh")
