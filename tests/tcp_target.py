"""A real TCP service for tests that can be stopped and started on one port."""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class TcpTarget:
    """Accepts and closes connections on 127.0.0.1 from a thread of its own.

    ``stop`` and ``start`` again keep the same port, so a monitor aimed at it
    sees the service go away and come back.
    """

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(128)
        server.settimeout(0.1)
        self._server = server
        self._thread = threading.Thread(target=self._accept, args=(server,))
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _accept(self, server: socket.socket) -> None:
        while self._server is server:
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.close()

    def __enter__(self) -> TcpTarget:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
