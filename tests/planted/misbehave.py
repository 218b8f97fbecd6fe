"""A protocol-v1 adapter that misbehaves on cue, for tests/kit/test_protocol.py.

A parse request whose body is one of the cue words below triggers that fault (STDERR writes to
stderr, TZ answers with its TZ environment variable as the message); any other parse gets
`{"ok": true, "micro_deposits": []}`. Every start is logged to stderr with the pid, so tests
can see restarts. `python tests/planted/misbehave.py --refuse` refuses the protocol version.
"""

import base64
import json
import os
import sys
import time


def reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> int:
    for line in sys.stdin:
        message = json.loads(line)
        seq, op = message["seq"], message["op"]
        if op == "start":
            print(f"start seq={seq} pid={os.getpid()}", file=sys.stderr, flush=True)
            if "--refuse" in sys.argv:
                reply({"seq": seq, "ok": False, "error": "unsupported_protocol"})
                return 0
            reply({"seq": seq, "ok": True, "ops": ["parse"],
                   "implementation": {"name": "misbehave", "language": "python", "version": "1"}})
        elif op == "parse":
            cue = base64.b64decode(message["body_b64"])
            if cue == b"CRASH":
                print("about to crash: boom", file=sys.stderr, flush=True)
                return 3
            if cue == b"HANG":
                time.sleep(3600)
            if cue == b"GARBAGE":
                sys.stdout.write("this is not json\n")
                sys.stdout.flush()
                continue
            if cue == b"SEQ":
                reply({"seq": seq + 100, "ok": True, "micro_deposits": []})
                continue
            if cue == b"SCHEMA":
                reply({"seq": seq, "ok": "yes"})
                continue
            if cue == b"CATEGORY":
                reply({"seq": seq, "ok": False, "error": "no_such_category"})
                continue
            if cue == b"STDERR":  # no newline: a partial line still belongs to this call
                sys.stderr.write(f"stderr of seq {seq}")
                sys.stderr.flush()
            if cue == b"TZ":
                reply({"seq": seq, "ok": False, "error": "http_error", "message": os.environ.get("TZ", "")})
                continue
            reply({"seq": seq, "ok": True, "micro_deposits": []})
        elif op == "stop":
            reply({"seq": seq, "ok": True})
            return 0
        else:
            reply({"seq": seq, "skipped": True, "reason": "not implemented"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
