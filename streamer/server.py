"""`python -m streamer.server`: daphne, with each WebSocket's send buffer measured (issue #12).

Takes exactly daphne's command line (`python -m streamer.server --bind 127.0.0.1 --port 8000
streamer.asgi:application`); `make run`, the tests and docs/deploy.md start the app this way.

Why: ASGI gives an application no back-pressure. daphne's `send` never suspends: it hands the frame to
autobahn, which writes it to the Twisted transport, which keeps whatever the kernel will not take yet,
without limit. So a client that stops reading makes the server hold everything sent to it: 4,000
`attach` frames for one 129 KB answer took daphne from 225 MB to 716 MB.

What is measured, per socket (DaphneSocket):
- pending_bytes: what Twisted holds and has not written to the kernel: the transport's `dataBuffer` from
  `offset` on, plus `_tempDataLen`, the writes not yet joined into it. That is the sum Twisted itself
  compares with its `bufferSize` to pause a producer (FileDescriptor._isSendBufferFull).
- handed_bytes: what autobahn has handed to the transport since the handshake (its `trafficStats`), so
  `handed - pending` is what has left the process, and a frame sent when `handed` was N has been written
  once that reaches N (chat.socket_limits.SendBuffer.receipt).

Not used: a Twisted producer (`registerProducer`) is only told pause/resume around the 64 KiB
`bufferSize`, not how much is held; autobahn's counters alone say what was handed over, not written; the
kernel's own queue (SIOCOUTQ on `transport.getHandle()`) is already bounded by the kernel and is not this
process's memory; counting bytes in our own send path cannot see when they leave.

How the application gets it: daphne builds each connection's scope in `Server.create_application`; this
subclass adds `scope["extensions"][SOCKET_EXTENSION] = {"socket": DaphneSocket}` to WebSocket scopes. Under
a server without it (plain `daphne`, Channels' test communicator) nothing is measured: no cap, no
coalescing, and streamer.asgi logs an error at start-up when that server is daphne.
"""

import logging

from daphne.cli import CommandLineInterface
from daphne.server import Server

from chat.socket_limits import SOCKET_EXTENSION

log = logging.getLogger(__name__)

# A socket the server closes on its own (too many frames, a full send buffer, an ended session) has this
# long to read what is queued before the close frame and answer it; then the connection is cut, and its
# buffer freed (autobahn's default, 1 s, would cut off a slow but honest client before it saw why).
CLOSE_GRACE_SECONDS = 10


class DaphneSocket:
    """One WebSocket as daphne serves it: what its transport still holds, and a close with a reason."""

    def __init__(self, protocol):
        self._protocol = protocol  # daphne's WebSocketProtocol, an autobahn WebSocketServerProtocol

    def pending_bytes(self) -> int:
        transport = self._protocol.transport
        while transport is not None and not hasattr(transport, "_tempDataLen"):
            transport = getattr(transport, "transport", None)  # under TLS: the TCP transport below it
        if transport is None:
            return 0  # disconnected: nothing is held any more
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    def handed_bytes(self) -> int:
        stats = self._protocol.trafficStats
        return stats.preopenOutgoingOctetsWireLevel + stats.outgoingOctetsWireLevel

    def close(self, code: int, reason: str) -> None:
        """Send a close frame with a reason: daphne passes an ASGI close's `reason` on to no one, and
        autobahn's sendClose refuses 1008 (it keeps the 1xxx codes for itself); sendCloseFrame is what
        autobahn uses for its own protocol-violation closes."""
        protocol = self._protocol
        if protocol.state != protocol.STATE_OPEN:
            return
        protocol.closeHandshakeTimeout = CLOSE_GRACE_SECONDS
        protocol.sendCloseFrame(code=code, reasonUtf8=reason.encode()[:123])  # a close frame holds 123 bytes of reason


class MeasuringServer(Server):
    """daphne's Server, adding a DaphneSocket to each WebSocket's scope."""

    serving = False

    def run(self):
        MeasuringServer.serving = True
        super().run()

    def create_application(self, protocol, scope):
        if scope["type"] == "websocket":
            scope["extensions"] = {**(scope.get("extensions") or {}), SOCKET_EXTENSION: {"socket": DaphneSocket(protocol)}}
        return super().create_application(protocol, scope)


class MeasuringCommandLine(CommandLineInterface):
    server_class = MeasuringServer


def warn_unless_measured() -> None:
    """From streamer.asgi when daphne starts serving: a plain `daphne` measures no socket."""
    if not MeasuringServer.serving:
        log.error("Serving without streamer.server: sockets' send buffers are not measured, so "
                  "SOCKET_SEND_BUFFER_BYTES is not enforced. Start the app with `python -m streamer.server` "
                  "(same options as daphne), as `make run` does.")


if __name__ == "__main__":
    # Through this module's own name, not __main__: streamer.asgi reads MeasuringServer.serving there.
    from streamer.server import MeasuringCommandLine as Entry

    Entry.entrypoint()
