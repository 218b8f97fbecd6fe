"""Planted protocol bug: prints a line that is not JSON on stdout (a stray debug print) when a
body holds a routing number; otherwise the bundled adapter. Subprocess only:
`python -m tests.planted.garbage`."""

import json
import sys

from nexus_micro_kit.adapters import nexus_micro as bundled
from tests.planted._base import body_of


def main() -> None:
    for line in sys.stdin:
        message = json.loads(line)
        if message.get("op") == "parse" and b"routing_number" in body_of(message):
            print("DEBUG: parsing a routing number", flush=True)  # the bug: stdout is the protocol
            continue
        print(json.dumps(bundled.handle(message)), flush=True)
        if message.get("op") == "stop":
            break


if __name__ == "__main__":
    main()
