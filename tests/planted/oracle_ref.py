"""Not a planted bug: a reference adapter that answers `parse` with the kit's own oracle, so
tests/kit can exercise the runner without depending on any implementation. `routing_bug` is the
same with one planted bug (S7: leading zeros of routing numbers dropped). `with_drift` also
lists the revision-2 `drift` feature and reports the oracle's notes (`--drift` as a subprocess)."""

import base64

from nexus_micro_kit import oracle


def handle(message: dict) -> dict:
    seq, op = message.get("seq"), message.get("op")
    if op == "start":
        return {"seq": seq, "ok": True, "ops": ["parse"],
                "implementation": {"name": "oracle-ref", "language": "python", "version": "1"}}
    if op == "parse":
        body = base64.b64decode(message["body_b64"])
        outcome = oracle.expect_parse(message["status"], message["headers"], body, message["strict"])
        if outcome["ok"]:
            return {"seq": seq, "ok": True, "micro_deposits": outcome["micro_deposits"]}
        return {"seq": seq, "ok": False, "error": outcome["error"]}
    if op == "stop":
        return {"seq": seq, "ok": True}
    return {"seq": seq, "skipped": True, "reason": f"{op} not implemented"}


def routing_bug(message: dict) -> dict:
    reply = handle(message)
    for record in reply.get("micro_deposits", []) if reply.get("ok") else []:
        if isinstance(record.get("routing_number"), str):
            record["routing_number"] = record["routing_number"].lstrip("0")
    return reply


def with_drift(message: dict) -> dict:
    seq, op = message.get("seq"), message.get("op")
    if op == "start":
        return {**handle(message), "features": ["drift", "not_a_feature"]}  # unknown names are ignored
    if op != "parse":
        return handle(message)
    body = base64.b64decode(message["body_b64"])
    outcome = oracle.expect_parse(message["status"], message["headers"], body, message["strict"])
    if outcome["ok"]:
        return {"seq": seq, "ok": True, "micro_deposits": outcome["micro_deposits"], "drift": outcome["drift"]}
    reply = {"seq": seq, "ok": False, "error": outcome["error"]}
    if "drift" in outcome:
        reply["drift"] = outcome["drift"]
    return reply


if __name__ == "__main__":
    import sys

    from nexus_micro_kit.adapters import run_stdio

    run_stdio(routing_bug if "--routing-bug" in sys.argv else with_drift if "--drift" in sys.argv else handle)
