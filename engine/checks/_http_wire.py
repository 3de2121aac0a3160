"""The HTTP/1.1 response reader that the http check kind runs on each connection.

A check sends one request on a fresh connection and reads one response, so the
reader is a bare ``asyncio.Protocol`` that parses bytes as they arrive instead
of a general client with pools, streams and callbacks: at thousands of checks a
second that difference is most of the engine's CPU time.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import Final, cast

from engine.result import CheckFailure, Reason

HEAD_LIMIT: Final = 64 * 1024
"""The most bytes a status line and headers may take before the reply is refused."""

CHUNK_LINE_LIMIT: Final = 4096
"""The most bytes a chunk-size or trailer line may take."""

# How the body of the response is delimited, once the head has been read.
_HEAD: Final = 0
_NO_BODY: Final = 1
_LENGTH: Final = 2
_CHUNKED: Final = 3
_UNTIL_CLOSE: Final = 4
_FINISHED: Final = 5

# Where the chunked decoder stands.
_CHUNK_SIZE: Final = 0
_CHUNK_DATA: Final = 1
_CHUNK_END: Final = 2
_TRAILER: Final = 3


class ResponseReader(asyncio.Protocol):
    """Reads one HTTP/1.1 response and resolves ``done`` when it is complete.

    The reader keeps what a check judges and nothing more: the status, the
    headers (names lowercased, repeats joined with ``, ``), the body size and,
    when ``keep_body`` is set, the body's bytes. Bodies are delimited by
    Content-Length, chunked transfer-encoding or the end of the connection.
    ``done`` fails with a ``CheckFailure`` for a malformed reply (protocol) or
    one larger than ``limit`` bytes (size); the transport is closed either way.
    """

    __slots__ = (
        "_chunk_state",
        "_head",
        "_limit",
        "_mode",
        "_pending",
        "_remaining",
        "body_parts",
        "done",
        "finished_at",
        "first_byte_at",
        "headers",
        "keep_body",
        "no_body",
        "size",
        "status",
        "transport",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limit: int,
        keep_body: bool,
        no_body: bool,
    ) -> None:
        self._limit = limit
        self.keep_body = keep_body
        self.no_body = no_body
        self.done: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body_parts: list[bytes] = []
        self.size = 0
        self.first_byte_at = 0.0
        self.finished_at = 0.0
        self._mode = _HEAD
        self._head = b""
        self._remaining = 0
        self._pending = b""
        self._chunk_state = _CHUNK_SIZE

    @property
    def body(self) -> bytes:
        """The body as received (content encoding untouched), if it was kept."""
        return b"".join(self.body_parts)

    @property
    def head_received(self) -> bool:
        return self._mode != _HEAD

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        mode = self._mode
        if mode == _HEAD:
            self._read_head(data)
        elif mode == _LENGTH:
            self._read_length(data)
        elif mode == _CHUNKED:
            self._read_chunked(data)
        elif mode == _UNTIL_CLOSE:
            self._keep(data)

    def eof_received(self) -> bool | None:
        if self._mode == _UNTIL_CLOSE:
            self._finish()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        mode = self._mode
        if mode == _FINISHED:
            return
        if mode == _UNTIL_CLOSE and exc is None:
            self._finish()
            return
        if mode == _HEAD:
            if self.first_byte_at:
                message = "the connection closed in the middle of the response headers"
            else:
                message = "the server closed the connection without responding"
        else:
            message = (
                f"the connection closed after {self.size} body bytes, "
                "before the response was complete"
            )
        if exc is not None:
            message = f"{message} ({exc})"
        self._fail(Reason.PROTOCOL, message)

    def abandon(self) -> None:
        """Stop reading because the run gave up on this response.

        Whatever the connection does afterwards is ignored, and an outcome
        already set on ``done`` is marked as seen so asyncio does not report it
        as lost.
        """
        self._mode = _FINISHED
        done = self.done
        if not done.done():
            done.cancel()
        elif not done.cancelled():
            done.exception()

    def _read_head(self, data: bytes) -> None:
        """Collect bytes until the blank line that ends the head, then parse it.

        Interim 1xx responses (100 Continue, 103 Early Hints) are skipped: the
        check judges the final response.
        """
        if not self.first_byte_at:
            self.first_byte_at = perf_counter()
        buffer = self._head + data if self._head else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > HEAD_LIMIT:
                    self._fail(
                        Reason.PROTOCOL,
                        f"the response headers exceed {HEAD_LIMIT // 1024} KiB",
                    )
                else:
                    self._head = buffer
                return
            if not self._parse_head(buffer[:end]):
                return
            buffer = buffer[end + 4 :]
            if self._mode != _HEAD:
                break
        self._head = b""
        mode = self._mode
        if mode == _NO_BODY:
            self._finish()
        elif not buffer:
            return
        elif mode == _LENGTH:
            self._read_length(buffer)
        elif mode == _CHUNKED:
            self._read_chunked(buffer)
        elif mode == _UNTIL_CLOSE:
            self._keep(buffer)

    def _parse_head(self, head: bytes) -> bool:
        """Read the status line and headers and choose how the body is delimited.

        Returns False when the reply was refused (the reader has failed).
        """
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0]
        code = status_line[9:12]
        if (
            not status_line.startswith("HTTP/1.")
            or len(status_line) < 12
            or status_line[8] != " "
            or not code.isdigit()
            or (len(status_line) > 12 and status_line[12] != " ")
        ):
            self._fail(Reason.PROTOCOL, f"malformed status line {status_line[:80]!r}")
            return False
        status = int(code)
        if 100 <= status < 200 and status != 101:
            return True

        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name[-1] in " \t":
                self._fail(Reason.PROTOCOL, f"malformed header line {line[:80]!r}")
                return False
            name = name.lower()
            value = value.strip()
            if name in headers:
                headers[name] = f"{headers[name]}, {value}"
            else:
                headers[name] = value
        self.status = status
        self.headers = headers

        if self.no_body or status < 200 or status == 204 or status == 304:
            self._mode = _NO_BODY
            return True
        encoding = headers.get("transfer-encoding")
        if encoding is not None and encoding.lower().endswith("chunked"):
            self._mode = _CHUNKED
            return True
        length_text = headers.get("content-length")
        if length_text is None:
            self._mode = _UNTIL_CLOSE
            return True
        if not length_text.isdigit():
            if len({part.strip() for part in length_text.split(",")}) == 1:
                length_text = length_text.split(",")[0].strip()
            if not length_text.isdigit():
                self._fail(Reason.PROTOCOL, f"malformed Content-Length {length_text!r}")
                return False
        length = int(length_text)
        if length > self._limit:
            self._fail(Reason.SIZE, self._too_large(length))
            return False
        self._remaining = length
        self._mode = _LENGTH if length else _NO_BODY
        return True

    def _read_length(self, data: bytes) -> None:
        remaining = self._remaining
        if len(data) < remaining:
            self._remaining = remaining - len(data)
            self.size += len(data)
            if self.keep_body:
                self.body_parts.append(data)
            return
        if len(data) > remaining:
            data = data[:remaining]
        self.size += remaining
        if self.keep_body:
            self.body_parts.append(data)
        self._finish()

    def _read_chunked(self, data: bytes) -> None:
        """Decode chunked transfer-encoding, carrying partial lines between reads."""
        buffer = self._pending + data if self._pending else data
        position = 0
        end = len(buffer)
        state = self._chunk_state
        while position < end:
            if state == _CHUNK_DATA:
                take = min(self._remaining, end - position)
                if not self._keep(buffer[position : position + take]):
                    return
                position += take
                self._remaining -= take
                if not self._remaining:
                    state = _CHUNK_END
            elif state == _CHUNK_END:
                if end - position < 2:
                    break
                if buffer[position : position + 2] != b"\r\n":
                    self._fail(Reason.PROTOCOL, "a chunk is not followed by CRLF")
                    return
                position += 2
                state = _CHUNK_SIZE
            else:
                newline = buffer.find(b"\r\n", position)
                if newline < 0:
                    if end - position > CHUNK_LINE_LIMIT:
                        self._fail(Reason.PROTOCOL, "a chunk-size line is too long")
                        return
                    break
                line = buffer[position:newline]
                position = newline + 2
                if state == _TRAILER:
                    if not line:
                        self._finish()
                        return
                    continue
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    self._fail(Reason.PROTOCOL, f"malformed chunk size {size_text!r}")
                    return
                if size < 0:
                    self._fail(Reason.PROTOCOL, f"malformed chunk size {size_text!r}")
                    return
                if size == 0:
                    state = _TRAILER
                elif self.size + size > self._limit:
                    self._fail(Reason.SIZE, self._too_large(self.size + size))
                    return
                else:
                    self._remaining = size
                    state = _CHUNK_DATA
        self._chunk_state = state
        self._pending = buffer[position:]

    def _keep(self, data: bytes) -> bool:
        """Count (and keep, if asked) a piece of body; refuse it past the limit."""
        self.size += len(data)
        if self.size > self._limit:
            self._fail(Reason.SIZE, self._too_large(self.size, at_least=True))
            return False
        if self.keep_body:
            self.body_parts.append(data)
        return True

    def _too_large(self, size: int, *, at_least: bool = False) -> str:
        amount = f"at least {size}" if at_least else str(size)
        return (
            f"the response body is {amount} bytes, over the limit of "
            f"{self._limit} (options.max_body_bytes)"
        )

    def _finish(self) -> None:
        self._mode = _FINISHED
        self.finished_at = perf_counter()
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def _fail(self, reason: Reason, message: str) -> None:
        self._mode = _FINISHED
        self.finished_at = perf_counter()
        if not self.done.done():
            self.done.set_exception(CheckFailure(reason, message))
        if self.transport is not None:
            self.transport.abort()
