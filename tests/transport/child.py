"""One process as a user runs it: nexus_micro calls with the environment the parent test chose.

Run as ``python -I child.py '<json>'`` with ``{"module_dir": DIR, "calls": [CALL, ...]}``; a CALL
is ``{"base_url", "token", "options": {...}, "client": NAME | null, "set_env": {...}}``: with a
client name the call goes through one Client kept under that name, else through the one-shot
``nexus_micro.list_microdeposits``; ``set_env`` changes os.environ first. Prints one JSON line:
``{"results": [...], "default_cert_loads": N}``, a result being ``{"guids": [...]}`` or
``{"error": category, "type": class name, "message": str}``. ``default_cert_loads`` counts
``SSLContext.load_default_certs`` calls: loading the system CA bundle, the costly part of a
default context (about 17 ms each).

Name resolution is pinned to this machine: ``nexus-micro.test`` is 127.0.0.1 and any name
but loopback ones is refused, so a child can never reach past 127.0.0.1.
"""
import json
import os
import socket
import ssl
import sys

ARGS = json.loads(sys.argv[1])
sys.path.insert(0, ARGS["module_dir"])  # -I leaves it off sys.path

_getaddrinfo = socket.getaddrinfo
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def pinned_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    name = host.decode("ascii") if isinstance(host, bytes) else host
    if name == "nexus-micro.test":
        host = "127.0.0.1"
    elif name not in LOOPBACK_NAMES:
        raise socket.gaierror(socket.EAI_NONAME, f"the transport suite resolves only loopback names, not {name!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = pinned_getaddrinfo

cert_loads = []  # one entry per call
_load_default_certs = ssl.SSLContext.load_default_certs


def counting_load_default_certs(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    cert_loads.append(1)
    return _load_default_certs(self, *args, **kwargs)


ssl.SSLContext.load_default_certs = counting_load_default_certs  # type: ignore[method-assign]

import nexus_micro as nm  # noqa: E402  (after the patches above)

if os.path.dirname(os.path.abspath(nm.__file__)) != os.path.abspath(ARGS["module_dir"]):
    sys.exit(f"imported {nm.__file__}, not the copy under test in {ARGS['module_dir']}")

clients = {}
results = []
for call in ARGS["calls"]:
    os.environ.update(call.get("set_env", {}))
    options = dict(call.get("options", {}))
    try:
        if call.get("client"):
            if call["client"] not in clients:
                clients[call["client"]] = nm.Client(call["token"], base_url=call["base_url"], **options)
            records = clients[call["client"]].list_microdeposits()
        else:
            records = nm.list_microdeposits(call["token"], base_url=call["base_url"], **options)
        results.append({"guids": [r.guid for r in records]})
    except nm.NexusError as exc:
        results.append({"error": exc.category, "type": type(exc).__name__, "message": str(exc)})
for client in clients.values():
    client.close()
print(json.dumps({"results": results, "default_cert_loads": len(cert_loads)}))
