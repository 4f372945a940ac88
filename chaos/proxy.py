"""A TCP proxy that can cut the line: the broker or the store becomes unreachable without stopping it.

With Tansu's memory engine, stopping it would lose every topic; cutting the connections in front of it
is a real outage to the worker and costs the broker nothing. `cut()` closes every open
connection and refuses new ones until `restore()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading


class CuttableProxy:
    def __init__(
        self, listen_port: int, target_port: int, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> None:
        """`tls`: terminate TLS with this server context (Tansu 0.6's own --cert/--key cannot be
        combined, so the transport-security test puts TLS in front of it here)."""
        self.listen_port, self.target_port, self.host = listen_port, target_port, host
        self._tls = tls
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name=f"proxy-{listen_port}"
        )
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._cut = False

    def start(self) -> CuttableProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        self.cut()
        asyncio.run_coroutine_threadsafe(self._close_server(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def cut(self) -> None:
        self._cut = True
        asyncio.run_coroutine_threadsafe(self._drop_all(), self._loop).result(timeout=10)

    def restore(self) -> None:
        self._cut = False

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.listen_port, reuse_address=True, ssl=self._tls
        )

    async def _close_server(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _drop_all(self) -> None:
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._cut:
            client_writer.transport.abort()
            return
        try:
            target_reader, target_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._open.update({client_writer, target_writer})
        # When either side goes (the broker SIGKILLed, the client gone), both connections go, as a real
        # crash would close them: waiting for both pipes left the client on a half-dead connection
        # whose requests only timed out, and it never reconnected.
        pipes = [
            asyncio.ensure_future(self._pipe(client_reader, target_writer)),
            asyncio.ensure_future(self._pipe(target_reader, client_writer)),
        ]
        _, pending = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for pipe in pending:
            pipe.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for writer in (client_writer, target_writer):
            self._open.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if self._cut:
                    return
                writer.write(data)
                await writer.drain()
