"""What one socket may cost the server (issue #12): how fast it may send frames, and how much the server
may hold for it that it has not read. Each kind of abuse ends only that socket, never a run.

- FrameRate: a token bucket of FRAME_BURST frames refilled at FRAMES_PER_SECOND. A frame over it is not
  processed (an `error` frame `rate_limited` says so); a socket that goes on sending a whole burst's
  worth of frames into refusals is closed (1008).
- SendBuffer: what the server (streamer.server) holds for the socket that the client has not read. Past
  SOCKET_SEND_BUFFER_BYTES the socket is closed (1008) instead of sent more; its runs go on for their
  other watchers and the database. Its receipts tell whether a frame sent has been written out, so a
  second snapshot of a message is not queued behind the first (chat.watching).
"""

import time
from collections.abc import Callable

from django.conf import settings

# The scope extension streamer.server adds to WebSocket scopes: {"socket": DaphneSocket}.
SOCKET_EXTENSION = "streamer.socket"

# Close codes (docs/protocol.md). 1008 is the WebSocket code for a policy violation; 4401 is ours (4xxx
# are for applications), like HTTP's 401: the page goes to the login page instead of reconnecting.
POLICY_VIOLATION = 1008
SESSION_ENDED = 4401

TOO_MANY_FRAMES = "Too many frames: slow down; this one was not processed."
TOO_MANY_FRAMES_CLOSE = "Too many frames: the socket kept sending after rate_limited errors."
SEND_BUFFER_FULL_CLOSE = "Send buffer full: the client is not reading what it is sent."
SESSION_ENDED_CLOSE = "Session ended."


class FrameRate:
    """One socket's frames: a token bucket (FRAMES_PER_SECOND, FRAME_BURST)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.rate = settings.FRAMES_PER_SECOND
        self.burst = settings.FRAME_BURST
        self.tokens = float(self.burst)
        self.refilled_at = clock()
        self.refused_in_a_row = 0

    def admit(self) -> bool:
        """Whether the frame that just arrived may be processed."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled_at) * self.rate)
        self.refilled_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.refused_in_a_row = 0
            return True
        self.refused_in_a_row += 1
        return False

    @property
    def abusive(self) -> bool:
        """More than a whole burst refused in a row: the client ignores the `rate_limited` errors."""
        return self.refused_in_a_row > self.burst


def _written() -> bool:
    return True


class SendBuffer:
    """What the server holds for one socket, as streamer.server measures it (nothing under a server that
    does not: then the socket is never over the cap and every frame counts as written)."""

    def __init__(self, scope: dict):
        extension = (scope.get("extensions") or {}).get(SOCKET_EXTENSION) or {}
        self.socket = extension.get("socket")

    def over_cap(self) -> bool:
        return self.socket is not None and self.socket.pending_bytes() > settings.SOCKET_SEND_BUFFER_BYTES

    def receipt(self) -> Callable[[], bool]:
        """For the frame just sent: a function telling whether it has left the server (been written to
        the kernel). Frames are written in order, so it has once everything handed over up to it has."""
        socket = self.socket
        if socket is None:
            return _written
        end = socket.handed_bytes()
        return lambda: socket.handed_bytes() - socket.pending_bytes() >= end

    def close(self, code: int, reason: str) -> bool:
        """Close with a reason through the server, if it can (else the caller closes through ASGI)."""
        if self.socket is None:
            return False
        self.socket.close(code, reason)
        return True
