"""Adapters that put implementations behind the kit's protocol v1 (nexus_micro_kit/README.md).

`run_stdio(handle)` turns any `handle(message) -> reply` function into a subprocess adapter:
one JSON object per line on stdin, one reply per line on stdout.
"""

from __future__ import annotations

import json
import sys
from typing import Callable


def run_stdio(handle: Callable[[dict], dict]) -> int:
    """Serve protocol v1 on stdin/stdout until `stop` or end of input; returns the exit status."""
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        reply = handle(message)
        sys.stdout.write(json.dumps(reply, allow_nan=False) + "\n")
        sys.stdout.flush()
        if message.get("op") == "stop" or (message.get("op") == "start" and reply.get("ok") is False):
            break
    return 0
