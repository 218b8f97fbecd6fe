"""Runner side of the adapter protocol v1 (nexus_micro_kit/README.md).

Two ways to drive an implementation behind one interface: `SubprocessAdapter` (any language,
JSON lines over stdin/stdout) and `InProcessAdapter` (a Python callable). Both validate every
reply against `schemas/protocol-v1.schema.json`. A misbehaving adapter never raises out of
`call`: the reply is replaced by `{"protocol_error": kind, "message": ...}` so that the runner
fails that one case and goes on.

Revision 2 of protocol 1: `start` offers the optional FEATURES; `Adapter.features` holds the
ones the adapter's start reply lists. Each adapter also keeps what it wrote to stderr during the
current call (`case_stderr`), runs under `time_zone` (the runner sets it, README "Local time"),
and can be killed at once (`kill`, for an interrupted run).
"""

from __future__ import annotations

import atexit
import base64
import functools
import importlib
import importlib.util
import io
import json
import os
import queue
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
import traceback
import weakref
from pathlib import Path
from typing import Any, Callable

import jsonschema

from nexus_micro_kit import resources

PROTOCOL_VERSION = 1
PROTOCOL_REVISION = 2
FEATURES = ("drift", "deadline", "token_provider")  # optional features of revision 2, offered in start
SCHEMA_NAME = "schemas/protocol-v1.schema.json"  # read through resources (works from a wheel)
PARSE_TIMEOUT = 10.0
FETCH_TIMEOUT = 30.0
START_TIMEOUT = 10.0
STDERR_TAIL_BYTES = 16 * 1024  # the session's tail, for a start failure
STDERR_CASE_BYTES = 1024 * 1024  # what one call may write to stderr and still be searched whole (S22a)
MAX_LINE_BYTES = 64 * 1024 * 1024  # a longer stdout line is garbage (and would exhaust memory)
_TOO_LONG = b"<line too long>"  # what the reader thread queues for such a line

# Kinds of protocol failure (the value of "protocol_error" in a synthetic reply).
CRASH = "crash"          # the adapter exited (or could not be written to)
HANG = "hang"            # no reply within the case's time limit
GARBAGE = "garbage"      # a line that is not a JSON object, or a reply that fails the schema
WRONG_SEQ = "wrong_seq"  # a reply that does not echo the request's seq
NOT_RUN = "not_run"      # the runner did not send the case: the adapter hung too often (runner.HANG_LIMIT)


class AdapterStartError(Exception):
    """The adapter could not be started or refused the protocol version."""


@functools.lru_cache(maxsize=None)
def load_schema() -> dict:
    """The protocol v1 JSON Schema (draft 2020-12); raises resources.KitDataError when the kit
    is installed without it (a fault of the kit, never of the adapter)."""
    try:
        return json.loads(resources.read_kit(SCHEMA_NAME))
    except ValueError as exc:
        raise resources.KitDataError(f"kit data file {SCHEMA_NAME} is not JSON ({exc}); "
                                     "reinstall nexus-micro") from None


@functools.lru_cache(maxsize=None)
def _validator(definition: str) -> jsonschema.Draft202012Validator:
    root = load_schema()
    schema = {"$schema": root["$schema"], "$defs": root["$defs"], "$ref": f"#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(schema)


def validate_message(definition: str, message: Any) -> str | None:
    """None when `message` validates against `$defs/<definition>`, else a short reason."""
    error = jsonschema.exceptions.best_match(_validator(definition).iter_errors(message))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(top)"
    return f"{where}: {error.message}"[:300]


def validate_reply(op: str, reply: Any) -> str | None:
    """Validate a reply to `op` (start, parse, fetch, stop)."""
    definition = {"start": "start_any_reply", "stop": "stop_reply"}.get(op, f"{op}_reply")
    return validate_message(definition, reply)


def parse_request(status: int, headers: list, body: bytes, strict: bool) -> dict:
    """The `parse` request (without seq) for one response."""
    return {
        "op": "parse",
        "status": status,
        "headers": [[str(n), str(v)] for n, v in headers],
        "body_b64": base64.b64encode(body).decode("ascii"),
        "strict": bool(strict),
    }


def start_request() -> dict:
    """The `start` request (without seq): protocol 1, revision 2, offering every feature."""
    return {"op": "start", "protocol": PROTOCOL_VERSION, "revision": PROTOCOL_REVISION, "features": list(FEATURES)}


def failure(kind: str, message: str) -> dict:
    """A synthetic reply standing for a protocol failure."""
    return {"protocol_error": kind, "message": message}


class StderrLog:
    """What an adapter wrote to stderr: the session's last bytes, and everything since `mark()`
    (the start of the current call), so that a case is judged and reported on its own output."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tail = bytearray()
        self.case = bytearray()
        self.case_dropped = 0  # bytes of this case past STDERR_CASE_BYTES

    def write(self, data: bytes) -> None:
        with self.lock:
            self.tail += data
            del self.tail[:-STDERR_TAIL_BYTES]
            room = STDERR_CASE_BYTES - len(self.case)
            self.case += data[:max(room, 0)]
            self.case_dropped += max(len(data) - max(room, 0), 0)

    def mark(self) -> None:
        with self.lock:
            self.case.clear()
            self.case_dropped = 0

    def since_mark(self) -> str:
        with self.lock:
            text = self.case.decode("utf-8", "replace")
            return text + (f"\n[{self.case_dropped} more bytes not kept]" if self.case_dropped else "")

    def text_tail(self) -> str:
        with self.lock:
            return self.tail.decode("utf-8", "replace")


class StderrPipe:
    """The read end of one adapter process's stderr pipe, non-blocking, drained into a StderrLog
    by the reader thread and by SubprocessAdapter.case_stderr()."""

    def __init__(self, stream: Any, log: StderrLog):
        self.stream = stream
        self.fd = stream.fileno()
        os.set_blocking(self.fd, False)
        self.log = log
        self.reading = threading.Lock()  # held while bytes move from the pipe into the log
        self.closed = False  # once closed, the descriptor number may belong to another file

    def drain(self) -> bool:
        """Move every byte waiting in the pipe into the log; False at end of file. Both drainers
        hold `reading`, so when a drain returns, whatever the adapter wrote before it is in the
        log: no thread holds bytes it read but has not appended yet."""
        with self.reading:
            while not self.closed:
                try:
                    data = os.read(self.fd, 65536)
                except BlockingIOError:
                    return True
                except OSError:
                    return False
                if not data:
                    return False
                self.log.write(data)
            return False

    def close(self) -> None:
        with self.reading:
            self.closed = True
            _close_quietly(self.stream)


class Adapter:
    """Common interface: open(), call(request) -> reply, close(); kill() for an interrupted run.

    `features` is what the start reply listed among FEATURES; `time_zone` (a TZ value or None)
    is the local time zone the implementation runs under, set before open()."""

    description = ""

    def __init__(self, parse_timeout: float = PARSE_TIMEOUT, fetch_timeout: float = FETCH_TIMEOUT):
        self.parse_timeout = parse_timeout
        self.fetch_timeout = fetch_timeout
        self.implementation: dict = {}
        self.ops: list[str] = []
        self.features: frozenset[str] = frozenset()
        self.time_zone: str | None = None
        self.restarts = 0
        self.calls = 0
        self.stderr = StderrLog()

    def timeout_for(self, op: str) -> float:
        return self.fetch_timeout if op == "fetch" else self.parse_timeout

    def open(self) -> None:
        raise NotImplementedError

    def call(self, request: dict) -> dict:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        """Stop the implementation at once, without the stop exchange (the run was interrupted)."""
        self.close()

    def stderr_tail(self) -> str:
        """Recent stderr of the adapter's session, for a start failure ('' when none)."""
        return self.stderr.text_tail()[-4000:]

    def case_stderr(self) -> str:
        """What the adapter wrote to stderr during the last call (after the reader caught up)."""
        return self.stderr.since_mark()

    def __enter__(self) -> Adapter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_start(self, reply: dict) -> None:
        problem = reply.get("message") if "protocol_error" in reply else validate_reply("start", reply)
        if problem:
            raise AdapterStartError(f"bad start reply: {problem}")
        if reply.get("ok") is not True:
            raise AdapterStartError(f"adapter refused protocol {PROTOCOL_VERSION}: {reply.get('error')}")
        self.implementation = reply["implementation"]
        self.ops = list(reply["ops"])
        # Unknown feature names are ignored (later revisions may add some); none when absent.
        self.features = frozenset(f for f in reply.get("features", ()) if f in FEATURES)

    def _check_reply(self, op: str, seq: int, reply: Any) -> dict:
        """Turn a decoded reply into itself or a protocol failure (seq first, then schema)."""
        if not isinstance(reply, dict):
            return failure(GARBAGE, f"reply is not a JSON object: {json.dumps(reply)[:200]}")
        if reply.get("seq") != seq:
            return failure(WRONG_SEQ, f"reply seq {reply.get('seq')!r}, expected {seq}")
        problem = validate_reply(op, reply)
        if problem:
            return failure(GARBAGE, f"reply does not match protocol-v1 {op} reply: {problem}")
        return reply


class SubprocessAdapter(Adapter):
    """An adapter command started once, spoken to in JSON lines; restarted after it misbehaves."""

    def __init__(self, command: str, cwd: str | None = None, **timeouts: float):
        super().__init__(**timeouts)
        self.command = command
        self.argv = shlex.split(command)
        self.cwd = cwd
        self.description = command
        self.seq = 0
        self.proc: subprocess.Popen | None = None
        self.stderr_reader: threading.Thread = threading.Thread()
        self.stderr_pipe: StderrPipe | None = None
        self.lines: queue.Queue = queue.Queue()

    def open(self) -> None:
        """Start the command and do the start exchange (raises AdapterStartError)."""
        self._spawn()

    def _environment(self) -> dict[str, str] | None:
        if self.time_zone is None:
            return None
        return {**os.environ, "TZ": self.time_zone}

    def _spawn(self) -> None:
        try:
            # Own session: a wrapper command (sh -c, npm, go run, cargo run) and everything it
            # starts can be killed as one process group, so no grandchild keeps stdout open.
            self.proc = subprocess.Popen(
                self.argv, cwd=self.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True,
                env=self._environment())  # buffered: raw pipes read byte by byte
        except OSError as exc:
            raise AdapterStartError(f"cannot start {self.command!r}: {exc}") from exc
        _LIVE.add(self)
        self.lines = queue.Queue()
        threading.Thread(target=_pump_lines, args=(self.proc.stdout, self.lines), daemon=True).start()
        self.stderr_pipe = StderrPipe(self.proc.stderr, self.stderr)
        self.stderr_reader = threading.Thread(target=_pump_stderr, args=(self.stderr_pipe,), daemon=True)
        self.stderr_reader.start()
        self.seq = 0
        # A slow starter (a JVM, `cargo run`) gets at least the per-case limit to answer start.
        reply = self._exchange(start_request(), max(START_TIMEOUT, self.parse_timeout))
        if "protocol_error" in reply:
            self._kill()
        self._check_start(reply)

    def call(self, request: dict) -> dict:
        """Send one request, return its (validated) reply or a protocol failure."""
        self.calls += 1
        if self.proc is None or self.proc.poll() is not None:
            try:
                self.restarts += 1
                self._spawn()
            except AdapterStartError as exc:
                return failure(CRASH, f"adapter could not be restarted: {exc}")
        if self.stderr_pipe is not None:
            self.stderr_pipe.drain()  # what came before this call belongs to the one before
        self.stderr.mark()
        reply = self._exchange(request, self.timeout_for(request["op"]))
        if reply.get("protocol_error") in (CRASH, HANG, WRONG_SEQ) or (
                reply.get("protocol_error") == GARBAGE and reply.get("_line")):
            self._kill()  # the next call restarts it with a new start exchange
        reply.pop("_line", None)
        return reply

    def case_stderr(self) -> str:
        """What the adapter wrote to stderr during the last call: the reply came after it, so
        draining the pipe now (beside the reader thread) gets all of it, without waiting."""
        if self.stderr_pipe is not None:
            self.stderr_pipe.drain()
        return self.stderr.since_mark()

    def _exchange(self, request: dict, timeout: float) -> dict:
        seq = self.seq
        self.seq += 1
        op = request["op"]
        line = json.dumps({"seq": seq, **request}) + "\n"
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return failure(CRASH, f"adapter exited before {op} (status {self.proc.poll()})")
        try:
            raw = self.lines.get(timeout=timeout)
        except queue.Empty:
            return failure(HANG, f"no reply to {op} within {timeout:g} s")
        if raw is _TOO_LONG:
            return {**failure(GARBAGE, f"stdout line longer than {MAX_LINE_BYTES} bytes"), "_line": True}
        if raw is None:
            status = self._wait_exit(1.0)
            self.stderr_reader.join(0.5)  # so that the failure report has its last words
            return failure(CRASH, f"adapter exited during {op} (status {status})")
        try:
            reply = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)  # NaN is not JSON
        except (UnicodeDecodeError, ValueError):
            shown = raw[:200].decode("utf-8", "replace").rstrip("\n")
            return {**failure(GARBAGE, f"stdout line is not JSON: {shown!r}"), "_line": True}
        if not isinstance(reply, dict):
            return {**failure(GARBAGE, f"stdout line is not a JSON object: {raw[:200]!r}"), "_line": True}
        return self._check_reply(op, seq, reply)

    def _wait_exit(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _kill(self) -> None:
        if self.proc is None:
            return
        _kill_group(self.proc)
        self._wait_exit(5.0)
        _close_pipes(self.proc)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the adapter's process group now (an interrupted or terminated run)."""
        self._kill()
        _LIVE.discard(self)

    def close(self) -> None:
        """Send stop, wait a little for exit, then kill."""
        if self.proc is None:
            _LIVE.discard(self)
            return
        if self.proc.poll() is None:
            self._exchange({"op": "stop"}, 2.0)
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            if self._wait_exit(3.0) is None:
                _kill_group(self.proc)
                self._wait_exit(5.0)
        _kill_group(self.proc)  # whatever the adapter left running in its session
        _close_pipes(self.proc)
        self.proc = None
        _LIVE.discard(self)


# Subprocess adapters with a live process: killed at interpreter exit, whatever ended the run.
_LIVE: weakref.WeakSet[SubprocessAdapter] = weakref.WeakSet()


def kill_all() -> None:
    """Kill the process group of every live subprocess adapter (atexit, and the runner's
    SIGTERM/SIGHUP handling): an adapter must not outlive the runner."""
    for adapter in list(_LIVE):
        adapter.kill()


atexit.register(kill_all)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the adapter's whole process group (it runs in its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _pump_lines(stream: Any, sink: queue.Queue) -> None:
    """Reader thread: stdout lines into a queue, None at EOF; owns (and closes) the stream.

    A line longer than MAX_LINE_BYTES is queued as _TOO_LONG and the rest of the output is
    discarded: the runner kills the adapter after garbage anyway."""
    try:
        while True:
            raw = stream.readline(MAX_LINE_BYTES)
            if not raw:
                break
            if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
                sink.put(_TOO_LONG)
                while stream.read(65536):
                    pass
                break
            sink.put(raw)
    except (OSError, ValueError):
        pass
    finally:
        _close_quietly(stream)
    sink.put(None)


def _pump_stderr(pipe: StderrPipe) -> None:
    """Reader thread: stderr into the log as it arrives (not by lines: a token written without a
    newline still counts for the call that wrote it); waits with poll() on the non-blocking
    pipe, and closes it at end of file."""
    try:
        poller = select.poll()  # not select(): it fails for descriptors past FD_SETSIZE
        poller.register(pipe.fd, select.POLLIN)
        while True:
            poller.poll(1000)
            if not pipe.drain():
                break
    except (OSError, ValueError):
        pass
    finally:
        pipe.close()


def _close_quietly(stream: Any) -> None:
    try:
        stream.close()
    except (OSError, ValueError):
        pass


def _close_pipes(proc: subprocess.Popen) -> None:
    """Close stdin only: stdout and stderr belong to the reader threads, which close them at
    EOF. Closing them here would block on the lock a reader holds inside readline()."""
    if proc.stdin is not None:
        _close_quietly(proc.stdin)


def load_callable(target: str) -> Callable[[dict], dict]:
    """Resolve "package.module:callable" or "path/to/file.py:callable"."""
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise AdapterStartError(f"expected MODULE:CALLABLE, got {target!r}")
    if module_name.endswith(".py") or os.sep in module_name:
        path = Path(module_name)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise AdapterStartError(f"cannot load {module_name}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # a syntax error or a crash at import: the adapter cannot start
            raise AdapterStartError(f"cannot load {module_name}: {type(exc).__name__}: {exc}") from exc
    else:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())  # as `python -m` does
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise AdapterStartError(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise AdapterStartError(f"{module_name} has no {attr}") from exc


class _StderrTee(io.TextIOBase):
    """sys.stderr while an in-process call runs: passes every write on and copies it to the
    adapter's StderrLog. (Writes to file descriptor 2 itself, by C code or child processes,
    bypass it.)"""

    def __init__(self, target: Any, log: StderrLog):
        self.target = target
        self.log = log

    def write(self, text: str) -> int:
        self.log.write(str(text).encode("utf-8", "replace"))
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, isatty, buffer, ...
        return getattr(self.target, name)


class InProcessAdapter(Adapter):
    """A Python callable taking the request dict and returning the reply dict.

    Calls run on a worker thread so a hang can be timed out (the stuck thread is abandoned and a
    new worker started). Replies go through a JSON round trip, as on the wire. While the adapter
    is open, the process runs under `time_zone` (os.environ["TZ"] and time.tzset(); restored by
    close())."""

    def __init__(self, target: str | Callable[[dict], dict], **timeouts: float):
        super().__init__(**timeouts)
        self.target = target
        self.description = target if isinstance(target, str) else repr(target)
        self.handler: Callable[[dict], dict] | None = None
        self.seq = 0
        self.inbox: queue.Queue = queue.Queue()
        self.outbox: queue.Queue = queue.Queue()
        self._saved_tz: tuple[bool, str | None] | None = None

    def open(self) -> None:
        self.handler = load_callable(self.target) if isinstance(self.target, str) else self.target
        self._set_time_zone()
        self._new_worker()
        self.seq = 0
        self._check_start(self._exchange(start_request(), max(START_TIMEOUT, self.parse_timeout)))

    def _set_time_zone(self) -> None:
        if self.time_zone is None or self._saved_tz is not None or not hasattr(time, "tzset"):
            return
        self._saved_tz = ("TZ" in os.environ, os.environ.get("TZ"))
        os.environ["TZ"] = self.time_zone
        time.tzset()

    def _restore_time_zone(self) -> None:
        if self._saved_tz is None:
            return
        had, value = self._saved_tz
        if had:
            os.environ["TZ"] = value or ""
        else:
            os.environ.pop("TZ", None)
        time.tzset()
        self._saved_tz = None

    def _new_worker(self) -> None:
        self.inbox, self.outbox = queue.Queue(), queue.Queue()
        threading.Thread(target=self._work, args=(self.inbox, self.outbox), daemon=True).start()

    def _work(self, inbox: queue.Queue, outbox: queue.Queue) -> None:
        assert self.handler is not None
        while True:
            message = inbox.get()
            if message is None:
                return
            try:
                outbox.put(("reply", self.handler(message)))
            except BaseException as exc:
                outbox.put(("raised", exc, traceback.format_exc()))

    def call(self, request: dict) -> dict:
        self.calls += 1
        self.stderr.mark()
        return self._exchange(request, self.timeout_for(request["op"]))

    def _exchange(self, request: dict, timeout: float) -> dict:
        seq = self.seq
        self.seq += 1
        op = request["op"]
        saved, sys.stderr = sys.stderr, _StderrTee(sys.stderr, self.stderr)
        try:
            self.inbox.put({"seq": seq, **request})
            result = self.outbox.get(timeout=timeout)
        except queue.Empty:
            self.restarts += 1
            self._new_worker()  # abandon the stuck thread
            return failure(HANG, f"no reply to {op} within {timeout:g} s")
        finally:
            sys.stderr = saved
        if result[0] == "raised":
            exc, tb = result[1], result[2]
            return {"seq": seq, "errored": True, "message": f"{type(exc).__name__}: {exc}"[:500],
                    "traceback": tb[-4000:]}
        try:
            reply = json.loads(json.dumps(result[1], allow_nan=False))
        except (TypeError, ValueError) as exc:
            return failure(GARBAGE, f"reply cannot be encoded as JSON: {exc}")
        return self._check_reply(op, seq, reply)

    def close(self) -> None:
        try:
            if self.handler is not None:
                self._exchange({"op": "stop"}, 2.0)
                self.inbox.put(None)
                self.handler = None
        finally:
            self._restore_time_zone()

    def kill(self) -> None:
        """Abandon the worker (a thread cannot be killed) and restore the time zone."""
        self.inbox.put(None)
        self.handler = None
        self._restore_time_zone()


def make_adapter(impl: str | None = None, python: str | None = None, cwd: str | None = None,
                 **timeouts: float) -> Adapter:
    """The adapter for `--impl COMMAND` or `--python MODULE:CALLABLE`."""
    if impl:
        return SubprocessAdapter(impl, cwd=cwd, **timeouts)
    return InProcessAdapter(python or "nexus_micro_kit.adapters.nexus_micro:handle", **timeouts)

