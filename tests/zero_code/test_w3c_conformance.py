"""W3C trace context end to end: a Flask service under `botanu run`, forwarding with requests.

The W3C trace-context test suite (``w3c/trace-context``, folder ``test/``) drives a service this
way: it POSTs a JSON list of callback URLs with the trace context headers of a case, the service
POSTs to each URL, and the suite reads the ``traceparent`` and ``tracestate`` that arrive there.
These tests do the same with their own cases (nothing of the suite is fetched or copied): one
service process and one recording downstream server for the whole module, headers sent with a
raw HTTP client so names, casing and repeated fields reach the service exactly as written.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.otlp_receiver import OTLPReceiver
from tests.zero_code._support import BIN, clean_env

SERVICE = textwrap.dedent(
    """
    import sys, threading
    import requests
    from flask import Flask, request
    from werkzeug.serving import make_server

    app = Flask(__name__)

    @app.post("/test")
    def test():
        # What the W3C suite asks of a service: POST each action's arguments to its url.
        for action in request.get_json(force=True) or []:
            requests.post(action["url"], json=action.get("arguments") or [], timeout=5).raise_for_status()
        return "done"

    @app.post("/quit")
    def quit():
        threading.Thread(target=server.shutdown).start()
        return "bye"

    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()
    """
)

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
TP = f"00-{TRACE}-{PARENT}-01"
TP_UNSAMPLED = f"00-{TRACE}-{PARENT}-00"

# The grammar, written out again here so the checks do not lean on the code under test.
OUT_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
OUT_MEMBER = re.compile(
    r"([a-z0-9][a-z0-9_\-*/@]{0,255})=([\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e])"
)


class Downstream:
    """Answers every POST with ``null`` and keeps its raw header list (repeats and casing as sent)."""

    def __init__(self) -> None:
        self.seen: dict[str, list[tuple[str, str]]] = {}
        self._arrived = threading.Condition()
        downstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with downstream._arrived:
                    downstream.seen[self.path] = list(self.headers.items())
                    downstream._arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"null")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Service:
    def __init__(self, port: int, process: subprocess.Popen[str], downstream: Downstream) -> None:
        self.port, self.process, self.downstream = port, process, downstream

    def send(self, headers: list[tuple[str, str]], callbacks: int = 1) -> list[list[tuple[str, str]]]:
        """POST a suite-style request with ``headers``; the headers each callback arrived with."""
        scope = uuid.uuid4().hex
        paths = [f"/callback/{scope}.{i}" for i in range(callbacks)]
        body = json.dumps(
            [{"url": f"http://127.0.0.1:{self.downstream.port}{path}", "arguments": []} for path in paths]
        ).encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.putrequest("POST", "/test")
            for name, value in headers:
                connection.putheader(name, value)
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            answer = response.read()
        finally:
            connection.close()
        # Bad trace context headers never break the request.
        assert (response.status, answer) == (200, b"done"), (response.status, answer)
        return [self.downstream.seen[path] for path in paths]


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    receiver = OTLPReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, receiver: OTLPReceiver) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("w3c")
    (root / "service.py").write_text(SERVICE)
    (root / "home").mkdir()
    env = clean_env(
        HOME=str(root / "home"),
        XDG_CACHE_HOME=str(root / "home" / ".cache"),
        BOTANU_SPOOL_DIR=str(root / "spool"),
        BOTANU_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    downstream = Downstream()
    process = subprocess.Popen(
        [str(BIN / "botanu"), "run", "--", str(BIN / "python"), str(root / "service.py")],
        env=env,
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip().isdigit(), (line, process.stderr.read() if process.poll() is not None else "")
        yield Service(int(line), process, downstream)
        connection = http.client.HTTPConnection("127.0.0.1", int(line), timeout=10)
        connection.request("POST", "/quit")
        connection.getresponse().read()
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        downstream.close()


def traceparent_of(headers: list[tuple[str, str]]) -> tuple[str, str, str]:
    """(trace-id, parent-id, flags) of the one well-formed traceparent that was sent."""
    values = [v for k, v in headers if k.lower() == "traceparent"]
    assert len(values) == 1, headers
    match = OUT_TRACEPARENT.fullmatch(values[0])
    assert match, values
    trace_id, parent_id, flags = match.groups()
    assert trace_id != "0" * 32 and parent_id != "0" * 16
    return trace_id, parent_id, flags


def tracestate_of(headers: list[tuple[str, str]]) -> str | None:
    """The tracestate that was sent (None if none), checked against the grammar and the limits."""
    values = [v for k, v in headers if k.lower() == "tracestate"]
    if not values:
        return None
    assert len(values) == 1, values  # botanu sends one field
    header = values[0]
    assert header and len(header) <= 512, header
    members = header.split(",")
    assert len(members) <= 32
    keys = []
    for member in members:
        match = OUT_MEMBER.fullmatch(member)
        assert match, member
        keys.append(match.group(1))
    assert len(set(keys)) == len(keys), header
    return header


def one(service: Service, headers: list[tuple[str, str]]) -> tuple[tuple[str, str, str], str | None]:
    (callback,) = service.send(headers)
    return traceparent_of(callback), tracestate_of(callback)


# --------------------------------------------------------------------------- traceparent


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("traceparent", TP)], id="lower-case-name"),
        pytest.param([("TraceParent", TP)], id="mixed-case-name"),
        pytest.param([("TRACEPARENT", TP)], id="upper-case-name"),
        pytest.param([("tRaCePaReNt", TP)], id="alternating-case-name"),
        pytest.param([("traceparent", f"\t {TP} \t")], id="blanks-around"),
        pytest.param([("traceparent", f"cc-{TRACE}-{PARENT}-01")], id="later-version"),
        pytest.param(
            [("traceparent", f"cc-{TRACE}-{PARENT}-01-more-fields")], id="later-version-more-fields"
        ),
    ],
)
def test_a_valid_traceparent_is_continued_under_a_new_parent(service, headers):
    (trace_id, parent_id, flags), _ = one(service, headers)
    assert (trace_id, flags) == (TRACE, "01") and parent_id != PARENT


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            [("traceparent", TP), ("traceparent", f"00-{TRACE[:-1]}1-{PARENT}-01")], id="two-fields"
        ),
        pytest.param([("trace-parent", TP)], id="name-with-dash"),
        pytest.param([("trace.parent", TP)], id="name-with-dot"),
        pytest.param([("traceparent", TP + ".")], id="v00-trailing-dot"),
        pytest.param([("traceparent", TP + "-later-fields")], id="v00-extra-fields"),
        pytest.param([("traceparent", f"cc-{TRACE}-{PARENT}-01.later")], id="later-version-no-dash"),
        pytest.param([("traceparent", f"ff-{TRACE}-{PARENT}-01")], id="version-ff"),
        pytest.param([("traceparent", f".0-{TRACE}-{PARENT}-01")], id="version-char-1"),
        pytest.param([("traceparent", f"0.-{TRACE}-{PARENT}-01")], id="version-char-2"),
        pytest.param([("traceparent", f"0-{TRACE}-{PARENT}-01")], id="version-short"),
        pytest.param([("traceparent", f"000-{TRACE}-{PARENT}-01")], id="version-long"),
        pytest.param([("traceparent", f"0000-{TRACE}-{PARENT}-01")], id="version-longer"),
        pytest.param([("traceparent", f"00-{'0' * 32}-{PARENT}-01")], id="trace-id-zero"),
        pytest.param([("traceparent", f"00-.{TRACE[1:]}-{PARENT}-01")], id="trace-id-char-first"),
        pytest.param([("traceparent", f"00-{TRACE[:-1]}.-{PARENT}-01")], id="trace-id-char-last"),
        pytest.param([("traceparent", f"00-{TRACE}0-{PARENT}-01")], id="trace-id-long"),
        pytest.param([("traceparent", f"00-{TRACE[1:]}-{PARENT}-01")], id="trace-id-short"),
        pytest.param([("traceparent", f"00-{TRACE}-{'0' * 16}-01")], id="parent-id-zero"),
        pytest.param([("traceparent", f"00-{TRACE}-.{PARENT[1:]}-01")], id="parent-id-char-first"),
        pytest.param([("traceparent", f"00-{TRACE}-{PARENT[:-1]}.-01")], id="parent-id-char-last"),
        pytest.param([("traceparent", f"00-{TRACE}-{PARENT}0-01")], id="parent-id-long"),
        pytest.param([("traceparent", f"00-{TRACE}-{PARENT[1:]}-01")], id="parent-id-short"),
        pytest.param([("traceparent", f"00-{TRACE}-{PARENT}-.1")], id="flags-char-first"),
        pytest.param([("traceparent", f"00-{TRACE}-{PARENT}-1.")], id="flags-char-last"),
        pytest.param([("traceparent", f"00-{TRACE}-{PARENT}-010")], id="flags-long"),
        pytest.param([("traceparent", f"00-{TRACE}-{PARENT}-1")], id="flags-short"),
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace(service, headers):
    # A tracestate with it is not read: the vendor that wrote it is not in this new trace.
    (trace_id, _, _), state = one(service, [*headers, ("tracestate", "congo=t61rcWkgMzE")])
    assert trace_id != TRACE and state is None


def test_no_trace_context_starts_a_trace_and_a_lone_tracestate_is_not_forwarded(service):
    (first, _, _), state = one(service, [])
    assert state is None
    (second, _, _), state = one(service, [("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")])
    assert state is None and second != first


def test_several_calls_share_the_trace_each_with_its_own_parent(service):
    for sent, same_trace in [
        ([("traceparent", TP)], True),
        ([], False),
        ([("traceparent", f"00-{'0' * 32}-{PARENT}-01")], False),
    ]:
        callbacks = [traceparent_of(h) for h in service.send(sent, callbacks=3)]
        trace_ids = {trace_id for trace_id, _, _ in callbacks}
        assert len({parent_id for _, parent_id, _ in callbacks}) == 3
        assert len(trace_ids) == 1  # one request, one trace
        assert (trace_ids == {TRACE}) is same_trace


def test_sampled_and_random_flags_follow_the_caller(service):
    # The caller's sampled bit decides (parent-based sampling); random (Level 2) stays with its trace id.
    for flags in ("00", "01", "02", "03"):
        (trace_id, _, sent), _ = one(service, [("traceparent", f"00-{TRACE}-{PARENT}-{flags}")])
        assert (trace_id, sent) == (TRACE, flags)


# --------------------------------------------------------------------------- tracestate


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param([("tracestate", "foo=1,bar=2")], "foo=1,bar=2", id="one-field"),
        pytest.param([("TraceState", "foo=1")], "foo=1", id="mixed-case-name"),
        pytest.param([("TRACESTATE", "foo=1")], "foo=1", id="upper-case-name"),
        pytest.param(
            [("tracestate", "foo=1,bar=2"), ("tracestate", "rojo=1,congo=2"), ("tracestate", "baz=3")],
            "foo=1,bar=2,rojo=1,congo=2,baz=3",
            id="fields-combined-in-order",
        ),
        pytest.param(
            [("tracestate", "foo=1 \t , \t bar=2, \t baz=3")], "foo=1,bar=2,baz=3", id="blanks-around"
        ),
        pytest.param([("tracestate", " foo=1\t")], "foo=1", id="blanks-at-ends"),
        pytest.param([("tracestate", "foo=1,,, ,bar=2")], "foo=1,bar=2", id="empty-members"),
        pytest.param([("tracestate", "foo=1"), ("tracestate", "")], "foo=1", id="empty-field-after"),
        pytest.param([("tracestate", ""), ("tracestate", "foo=1")], "foo=1", id="empty-field-before"),
        pytest.param([("tracestate", "")], None, id="only-empty"),
        pytest.param([("trace-state", "foo=1")], None, id="name-with-dash"),
        pytest.param([("trace.state", "foo=1")], None, id="name-with-dot"),
        pytest.param([("tracestate", "foo=1,foo=1")], "foo=1", id="same-key-same-value"),
        pytest.param([("tracestate", "foo=1,foo=2")], "foo=1", id="same-key-two-values"),
        pytest.param([("tracestate", "foo=1"), ("tracestate", "foo=2")], "foo=1", id="same-key-two-fields"),
        pytest.param([("tracestate", "foo@=1,bar=2")], "foo@=1,bar=2", id="at-sign-last"),
        pytest.param([("tracestate", "foo@@bar=1,bar=2")], "foo@@bar=1,bar=2", id="two-at-signs"),
        pytest.param([("tracestate", "foo@bar@baz=1,bar=2")], "foo@bar@baz=1,bar=2", id="at-signs-apart"),
        pytest.param([("tracestate", "1vendor=1")], "1vendor=1", id="digit-first"),
        pytest.param([("tracestate", "@foo=1,bar=2")], None, id="at-sign-first"),
        pytest.param([("tracestate", "bar=2"), ("tracestate", "foo =1")], None, id="blank-in-key"),
        pytest.param([("tracestate", "FOO=1")], None, id="upper-case-key"),
        pytest.param([("tracestate", "foo.bar=1")], None, id="dot-in-key"),
        pytest.param([("tracestate", "foo=bar=baz")], None, id="equals-in-value"),
        pytest.param([("tracestate", "foo=,bar=3")], None, id="empty-value"),
        pytest.param([("tracestate", "bar=3,foo")], None, id="no-equals"),
    ],
)
def test_tracestate_is_forwarded_or_discarded_as_a_whole(service, fields, expected):
    (trace_id, _, _), state = one(service, [("traceparent", TP_UNSAMPLED), *fields])
    assert trace_id == TRACE  # whatever happens to tracestate, the trace goes on
    assert state == expected


@pytest.mark.parametrize(
    ("key", "kept"),
    [
        ("z" * 256, True),
        ("z" * 257, False),
        ("t" * 241 + "@" + "v" * 14, True),
        ("t" * 242 + "@v", True),
        ("t@" + "v" * 15, True),
        ("t" * 200 + "@" + "v" * 55, True),
        ("t" * 200 + "@" + "v" * 56, False),
    ],
    ids=lambda k: f"{len(k)}-chars" if isinstance(k, str) else str(k),
)
def test_a_key_may_have_256_characters_at_signs_included(service, key, kept):
    _, state = one(
        service, [("traceparent", TP_UNSAMPLED), ("tracestate", "foo=1"), ("tracestate", f"{key}=1")]
    )
    assert state == (f"foo=1,{key}=1" if kept else None)


def test_every_allowed_character_is_forwarded(service):
    key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
    value = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ",=").strip()
    for sent_key in (key, f"{key}@a-z0-9_-*/"):
        _, state = one(service, [("traceparent", TP_UNSAMPLED), ("tracestate", f"{sent_key}={value}")])
        assert state == f"{sent_key}={value}"


def test_32_members_are_forwarded_33_are_discarded(service):
    members = [f"m{i:02d}={i:02d}" for i in range(33)]
    fields = [("tracestate", ",".join(members[i : i + 8])) for i in range(0, 32, 8)]
    _, state = one(service, [("traceparent", TP_UNSAMPLED), *fields])
    assert state == ",".join(members[:32])
    _, state = one(service, [("traceparent", TP_UNSAMPLED), *fields, ("tracestate", members[32])])
    assert state is None


def test_a_long_tracestate_is_cut_to_512_characters_whole_members_large_ones_first(service):
    large = "big=" + "x" * 250
    small = [f"s{i}=" + "y" * 60 for i in range(8)]  # 8 x 63 + 7 commas = 511
    _, state = one(
        service, [("traceparent", TP_UNSAMPLED), ("tracestate", ",".join([small[0], large, *small[1:]]))]
    )
    assert state == ",".join(small)


def test_the_continued_spans_carry_the_forwarded_tracestate(service, receiver):
    (_, parent_id, _), _ = one(service, [("traceparent", TP), ("tracestate", "foo@=1,foo=2,foo=3")])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        exported = {
            span.span_id.hex(): (span.parent_span_id.hex(), span.trace_state)
            for request in list(receiver.requests)
            if request.request is not None
            for resource in request.request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        }
        if parent_id in exported and exported[parent_id][0] in exported:
            break
        time.sleep(0.05)
    # The client span that called downstream, and the server span above it, child of the caller.
    client_parent, client_state = exported[parent_id]
    server_parent, server_state = exported[client_parent]
    assert server_parent == PARENT
    assert client_state == server_state == "foo@=1,foo=2"
