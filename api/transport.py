"""uvicorn's httptools HTTP/1.1 protocol with Nagle's algorithm off on every connection.

asyncio turns Nagle off itself only for sockets it knows to be TCP; a listening socket
handed to a worker process (``serve --workers N``, ``api.workers``) may come back without
its protocol number, and the loop then leaves Nagle on. uvicorn then writes an answer's
headers and body separately, the body waits for the client's delayed ACK, and every
answer took ~40 ms more. Turning it off per connection keeps answers as fast with any
number of workers.

httptools (C parser) rather than uvicorn's pure-Python h11: parsing and writing a request
costs less of the CPU the dispatch decision needs.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
