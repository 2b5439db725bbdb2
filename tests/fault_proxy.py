"""A fault-injecting HTTP proxy on 127.0.0.1 in front of an S3 endpoint (Ceph RGW, moto).

Clients use the proxy's URL as their S3 endpoint and sign for it (AWS Signature V4 signs the
``Host`` header the client sends). The proxy forwards every request's bytes unchanged (request
line, headers, body, chunk framing) to the upstream store, which checks the signature against
that same ``Host`` header, so signatures stay valid without the proxy knowing any credential.
Responses come back byte for byte too. Only the framing is parsed, to know where a message ends.

A configured fraction of requests gets a fault. Faults are dealt like cards: a deck holds
``weights[kind]`` cards of each kind in :data:`FAULTS` (default one each, two for ``reset``:
one before, one after forwarding) spread over ``round(cards / rate)`` consecutive requests at
positions drawn by a seeded ``random.Random``. So every window of that many requests (in
arrival order) gets exactly ``rate`` of them faulty and every kind at least once: at 5 % a deck
is 120 requests, at 20 % 30. The kinds:

- ``slowdown``: ``503 SlowDown`` with an S3 XML error body; not forwarded.
- ``internal_error``: ``500 InternalError`` with an S3 XML error body; not forwarded.
- ``reset``: the client connection is reset (TCP RST). Half of them (alternately) before the
  request is forwarded; half after the store has executed it, when the answer's header lines
  but not the blank line ending them have gone out (the answer is lost: the client cannot tell
  a write that happened from one that did not). libcurl (pyarrow's HTTP client) silently
  resends a request whose kept-alive connection died before any header of an answer, so only
  the second half reliably reaches the client's own retry logic.
- ``truncate``: the store's answer is forwarded with its headers but only part of its body, then
  the connection is closed: ``Content-Length`` says more than is sent (a chunked body loses its
  end). An empty body gets ``Content-Length: 1`` and nothing. ``HEAD``, ``204`` and ``304``
  answers have no body: a truncation card drawn for one waits for the next request.
- ``delay``: the answer is held for ``delay_seconds`` before it is sent.

Every injected fault is counted, and every request by method (:meth:`FaultProxy.counts`).
Standard library only.

>>> with FaultProxy("http://127.0.0.1:9", rate=0.0) as proxy:
...     proxy.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import random
import socket
import socketserver
import struct
import threading
import time
import uuid
from collections import Counter
from email.utils import formatdate

FAULTS = ("slowdown", "internal_error", "reset", "truncate", "delay")
"""Fault kinds, in the order of :attr:`FaultProxy.weights`."""

DEFAULT_WEIGHTS = {"slowdown": 1, "internal_error": 1, "reset": 2, "truncate": 1, "delay": 1}
"""Cards per deck: each kind once, ``reset`` twice (once before, once after forwarding)."""

_MAX_HEAD = 64 * 1024
_RECV = 256 * 1024


class ProtocolError(Exception):
    """A message the proxy cannot frame (it then drops the connection)."""


def _error_body(code: str, message: str, resource: str, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><Resource>{resource}</Resource>"
        f"<RequestId>{request_id}</RequestId><HostId>fault-proxy</HostId></Error>"
    ).encode()


ERRORS = {
    "slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "internal_error": (500, "Internal Server Error", "InternalError",
                       "We encountered an internal error. Please try again."),
}
"""Fault kind -> (status, reason phrase, S3 error code, message), as AWS S3 answers them."""


class _Reader:
    """Buffered reads from a socket: a line, a header block, exactly n bytes, or until EOF."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(_RECV)
        if not data:
            return False
        self.buf += data
        return True

    def head(self) -> bytes | None:
        """Bytes up to and including the blank line ending a header block; None at a clean EOF."""
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                out, self.buf = self.buf[: end + 4], self.buf[end + 4 :]
                return out
            if len(self.buf) > _MAX_HEAD:
                raise ProtocolError("header block too large")
            if not self._fill():
                if self.buf:
                    raise ProtocolError("connection closed inside a header block")
                return None

    def line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                out, self.buf = self.buf[: end + 2], self.buf[end + 2 :]
                return out
            if not self._fill():
                raise ProtocolError("connection closed inside a chunked body")

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ProtocolError(f"connection closed {n - len(self.buf)} bytes before the end of a body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    """First line and headers (lower-case names; repeated names joined by ', ')."""
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return lines[0], headers


def _chunked(reader: _Reader) -> bytes:
    """A chunked body, raw (sizes, extensions, trailers kept)."""
    parts = []
    while True:
        size_line = reader.line()
        parts.append(size_line)
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while True:
                trailer = reader.line()
                parts.append(trailer)
                if trailer == b"\r\n":
                    return b"".join(parts)
        parts.append(reader.exactly(size + 2))


def _request_body(reader: _Reader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _chunked(reader)
    return reader.exactly(int(headers.get("content-length") or 0))


def _response_body(reader: _Reader, method: str, status: int, headers: dict[str, str]) -> tuple[bytes, bool]:
    """(raw body, whether the body ran to the end of the connection)."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b"", False
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _chunked(reader), False
    if "content-length" in headers:
        return reader.exactly(int(headers["content-length"])), False
    return reader.rest(), True


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of an orderly FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class FaultProxy:
    """The proxy; use as a context manager (or :meth:`start` / :meth:`stop`).

    upstream: the store's endpoint URL (``http://host:port``).
    rate: fraction of requests that get a fault (0 forwards everything untouched).
    seed: seed of the RNG that places the cards in each deck.
    weights: cards of each kind per deck (:data:`DEFAULT_WEIGHTS`; 0 disables a kind).
    delay_seconds: how long a ``delay`` fault holds the answer.
    """

    def __init__(self, upstream: str, *, rate: float = 0.0, seed: int = 0,
                 weights: dict[str, int] | None = None, delay_seconds: float = 1.0) -> None:
        host, _, port = upstream.split("://", 1)[-1].rstrip("/").partition(":")
        self.upstream = (host, int(port or 80))
        self.delay_seconds = delay_seconds
        self._lock = threading.Lock()
        self.configure(rate=rate, seed=seed, weights=weights)
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    # ------------------------------------------------------------------------ control

    def configure(self, *, rate: float | None = None, seed: int | None = None,
                  weights: dict[str, int] | None = None) -> None:
        """Change the fault rate, reseed the RNG and/or change the cards per deck; a new deck
        starts. Counters are kept."""
        with self._lock:
            if rate is not None:
                if not 0.0 <= rate <= 1.0:
                    raise ValueError(f"rate must be in [0, 1], got {rate}")
                self.rate = rate
            if seed is not None:
                self._rng = random.Random(seed)
            if weights is not None or not hasattr(self, "weights"):
                chosen = dict(DEFAULT_WEIGHTS if weights is None else weights)
                unknown = set(chosen) - set(FAULTS)
                if unknown:
                    raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(FAULTS)}")
                if any(not isinstance(n, int) or n < 0 for n in chosen.values()) or not any(chosen.values()):
                    raise ValueError(f"weights are cards per deck: integers >= 0, not all 0; got {chosen}")
                self.weights = {kind: chosen.get(kind, 0) for kind in FAULTS}
            if not hasattr(self, "_counts"):
                self._counts: Counter[str] = Counter()
                self._log: list[tuple[str, str, str | None]] = []
            self._deck: list[str | None] = []
            self._waiting: list[str] = []  # truncation cards drawn for HEAD requests
            self._resets = 0

    def _new_deck(self) -> list[str | None]:
        cards = [kind for kind in FAULTS for _ in range(self.weights[kind])]
        size = max(len(cards), round(len(cards) / self.rate))
        deck: list[str | None] = [None] * size
        for pos, card in zip(self._rng.sample(range(size), len(cards)), self._rng.sample(cards, len(cards))):
            deck[pos] = card
        deck.reverse()  # dealt from the end
        return deck

    def counts(self) -> dict[str, int]:
        """A snapshot: ``requests``, ``forwarded``, one count per injected fault kind,
        ``reset_after_forward`` (the resets the store had already answered) and one
        ``method:<METHOD>`` count per request method."""
        with self._lock:
            out = {"requests": 0, "forwarded": 0, **{kind: 0 for kind in FAULTS}, "reset_after_forward": 0}
            out.update(self._counts)
            return out

    def log(self) -> list[tuple[str, str, str | None]]:
        """Every request since the last :meth:`reset_counts`, in arrival order: (method, target,
        fault kind or None; ``reset`` after forwarding is ``reset_after_forward``)."""
        with self._lock:
            return list(self._log)

    def reset_counts(self) -> None:
        """Zero the counters and empty the log."""
        with self._lock:
            self._counts.clear()
            self._log.clear()

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------- serving

    def _decide(self, method: str, target: str = "") -> tuple[str | None, bool]:
        """(fault kind or None, whether a reset comes after forwarding) for the next request."""
        with self._lock:
            kind, after = self._draw(method)
            self._log.append((method, target, "reset_after_forward" if after else kind))
            return kind, after

    def _give_back_truncation(self, method: str, target: str) -> None:
        """The answer has no body to cut (204, 304): the card waits for the next request."""
        with self._lock:
            self._counts["truncate"] -= 1
            self._waiting.append("truncate")
            for i in range(len(self._log) - 1, -1, -1):
                if self._log[i] == (method, target, "truncate"):
                    self._log[i] = (method, target, None)
                    break

    def _draw(self, method: str) -> tuple[str | None, bool]:
        """The next card (caller holds the lock)."""
        self._counts["requests"] += 1
        self._counts[f"method:{method}"] += 1
        if self.rate <= 0:
            return None, False
        if self._waiting and method != "HEAD":
            kind: str | None = self._waiting.pop()
        else:
            if not self._deck:
                self._deck = self._new_deck()
            kind = self._deck.pop()
            if kind == "truncate" and method == "HEAD":
                self._waiting.append(kind)
                kind = None
        if kind is None:
            return None, False
        after = False
        if kind == "reset":
            after = self._resets % 2 == 1
            self._resets += 1
        self._counts[kind] += 1
        if after:
            self._counts["reset_after_forward"] += 1
        return kind, after

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        up_reader = _Reader(client)  # replaced with the store's reader when a connection opens
        reader = _Reader(client)
        try:
            while True:
                head = reader.head()
                if head is None:
                    return
                request_line, headers = _parse_head(head)
                method, _, rest = request_line.partition(" ")
                target = rest.rsplit(" ", 1)[0]
                if headers.get("expect", "").lower() == "100-continue":
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = _request_body(reader, headers)
                fault, after = self._decide(method, target)
                if fault in ERRORS:
                    self._send_error(client, fault, method, target)
                    continue
                if fault == "reset" and not after:
                    _reset(client)
                    return
                if upstream is None:
                    upstream = socket.create_connection(self.upstream, timeout=120)
                    up_reader = _Reader(upstream)
                try:
                    upstream.sendall(head + body)
                    resp_head, resp_body, to_close, up_closes = self._response(up_reader, method)
                except (OSError, ProtocolError):
                    # a kept-alive upstream connection the store closed meanwhile: once more, fresh
                    upstream.close()
                    upstream = socket.create_connection(self.upstream, timeout=120)
                    up_reader = _Reader(upstream)
                    upstream.sendall(head + body)
                    resp_head, resp_body, to_close, up_closes = self._response(up_reader, method)
                if up_closes:
                    upstream.close()
                    upstream = None
                with self._lock:
                    self._counts["forwarded"] += 1
                if fault == "reset":
                    client.sendall(resp_head[:-2])  # the answer's header lines, not the blank line ending them
                    time.sleep(0.01)  # let those bytes leave before the RST discards the send buffer
                    _reset(client)
                    return
                if fault == "delay":
                    time.sleep(self.delay_seconds)
                if fault == "truncate" and int(resp_head.split(b" ", 2)[1]) in (204, 304):
                    self._give_back_truncation(method, target)
                    fault = None
                if fault == "truncate":
                    client.sendall(self._truncated(resp_head, resp_body))
                    client.shutdown(socket.SHUT_RDWR)
                    return
                client.sendall(resp_head + resp_body)
                closing = to_close or "close" in headers.get("connection", "").lower()
                if closing:
                    client.shutdown(socket.SHUT_RDWR)
                    return
        except (OSError, ProtocolError, ValueError):
            return  # the client went away or sent something unframeable: drop the connection
        finally:
            if upstream is not None:
                upstream.close()
            try:
                client.close()
            except OSError:
                pass

    def _response(self, up_reader: _Reader, method: str) -> tuple[bytes, bytes, bool, bool]:
        """The store's final answer (1xx interim answers skipped): head, raw body, whether the
        client connection must close after it (a body that ran to EOF), and whether the store
        closes its connection."""
        while True:
            head = up_reader.head()
            if head is None:
                raise ProtocolError("the store closed the connection without an answer")
            status_line, headers = _parse_head(head)
            status = int(status_line.split(" ", 2)[1])
            if 100 <= status < 200:
                continue
            body, until_eof = _response_body(up_reader, method, status, headers)
            return head, body, until_eof, until_eof or "close" in headers.get("connection", "").lower()

    def _truncated(self, head: bytes, body: bytes) -> bytes:
        if len(body) >= 2:
            return head + body[: len(body) // 2]
        # nothing to cut: promise one byte more than there is
        status_line, headers = _parse_head(head)
        lines = [status_line] + [
            line for line in head.decode("latin-1").split("\r\n")[1:]
            if line and not line.lower().startswith(("content-length:", "transfer-encoding:"))
        ]
        return ("\r\n".join(lines) + f"\r\nContent-Length: {len(body) + 1}\r\n\r\n").encode("latin-1") + body

    def _send_error(self, client: socket.socket, fault: str, method: str, target: str) -> None:
        status, phrase, code, message = ERRORS[fault]
        request_id = uuid.uuid4().hex[:16].upper()
        payload = _error_body(code, message, target.split("?", 1)[0], request_id)
        head = (
            f"HTTP/1.1 {status} {phrase}\r\n"
            f"Content-Type: application/xml\r\n"
            f"Content-Length: {len(payload)}\r\n"
            f"x-amz-request-id: {request_id}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n"
            f"Server: fault-proxy\r\n\r\n"
        ).encode("latin-1")
        client.sendall(head if method == "HEAD" else head + payload)
