"""boto3 calls build their requests one at a time, in turn (issue #16).

Before it sends anything, a boto3 call spends about half of its CPU (~1 ms a call here): its parameters
validated and serialized, the endpoint resolved, the request signed. The 50 calls of a burst, each on its
reader thread, took the interpreter lock in slices between each other's system calls: every request was
built a bit at a time, all of them together, and the first was sent about as late as the last (the first
deltas of a burst came out bunched, p50 close to p99). Here a call builds its request under a lock,
released when botocore is about to send it (its `before-send` event): requests are built one after
another in the order the calls came, and the calls waiting for their turn sleep in the kernel instead of
taking the interpreter from the event loop and the calls reading their answers. Nothing that waits for
the network is done under the lock, and only calls made inside taking_turns() take part.
"""

import threading
from contextlib import contextmanager

_building = threading.Lock()
_thread = threading.local()  # taking_turns: the thread's call takes part; holding: it holds the lock now


def register(client) -> None:
    """On the client's own events (botocore's hooks; boto3's code is not touched)."""
    client.meta.events.register("provide-client-params.bedrock-runtime", _take_turn)
    client.meta.events.register("before-send.bedrock-runtime", _end_turn)


@contextmanager
def taking_turns():
    """Around a boto3 call on this thread: its request is built in turn with the others'."""
    _thread.taking_turns = True
    try:
        yield
    finally:
        _thread.taking_turns = False
        _end_turn()  # an error before the request was sent: the turn ends here


def _take_turn(**_kwargs) -> None:
    """botocore's provide-client-params: the call has begun, its arguments are built."""
    if getattr(_thread, "taking_turns", False) and not getattr(_thread, "holding", False):
        _building.acquire()
        _thread.holding = True


def _end_turn(**_kwargs) -> None:
    """botocore's before-send (the request is built and signed; a retry's sends find nothing held)."""
    if getattr(_thread, "holding", False):
        _thread.holding = False
        _building.release()
