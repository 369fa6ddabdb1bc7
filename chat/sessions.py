"""A socket lives only as long as its session (issue #12): logging out, deactivating the user, or deleting
or expiring the session ends it.

- Every frame that starts or touches work (prompt, stop, attach) passes only while the socket's session
  still logs in its user, who is still active (SessionCheck.is_live): asked of the database at most once
  every SESSION_RECHECK_SECONDS per socket, the verdict trusted in between.
- Logging out (Django's `user_logged_out`) ends that session's sockets at once; saving a user with
  `is_active=False` ends all of that user's sockets. Here by a plain call, and with Redis in every other
  process too: each process's control channel (chat.runs.control) joins one group, and is sent the
  session (its key's hash: no session key goes to Redis) or the user whose sockets end. A session deleted
  any other way (admin, `clearsessions`) ends its sockets at their next frame.

An ended socket gets an `error` frame `unauthenticated`, then is closed with 4401 (chat.socket_limits).
"""

import asyncio
import hashlib
import logging
import threading
import time
import weakref
from importlib import import_module
from types import SimpleNamespace

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.signals import user_logged_out
from django.contrib.sessions.backends import db as db_sessions
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from chat.runs.control import control_channel, control_layer, multi_process

log = logging.getLogger(__name__)

SESSION_ENDED_DETAIL = "Your session has ended. Please log in again."
SESSIONS_GROUP = "sessions"  # every process with sockets, on the control layer
# channels_redis forgets a group member after a day (group_expiry): a process joins again this often.
REJOIN_SECONDS = 600

# This process's open sockets; signals may come from any thread (a view runs in a worker thread).
_sockets: "set[SessionCheck]" = set()
_lock = threading.Lock()
_joined_at: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float]" = weakref.WeakKeyDictionary()


def key_hash(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()


def session_holds(session_key: str | None, user_id: int) -> bool:
    """Whether the session still logs in this user: it exists and has not expired, it names the user, the
    user's password has not changed since, and the backend still lets them in (is_active): the checks
    Django makes for every request (django.contrib.auth.get_user)."""
    if not session_key:
        return False
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(SimpleNamespace(session=session))
    return user.is_authenticated and user.pk == user_id


def sessions_holding(checks: list[tuple[str | None, int]]) -> set[str]:
    """The keys of those (session key, user id) pairs whose session still logs in the user (session_holds
    each), with database sessions read in one statement for all of them (a batch of prompts: chat.intake)."""
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    if store_class is not db_sessions.SessionStore:  # another engine reads its sessions its own way
        return {key for key, user_id in checks if session_holds(key, user_id)}
    rows = dict(store_class.get_model_class().objects.filter(
        session_key__in={key for key, _ in checks if key}, expire_date__gt=timezone.now()).values_list(
        "session_key", "session_data"))
    live = set()
    for key, user_id in checks:
        if key not in rows:  # missing or expired: as load() finds it, an empty session
            continue
        session = store_class(key)
        session._session_cache = session.decode(rows[key])  # what load() would read: no second statement
        user = auth.get_user(SimpleNamespace(session=session))
        if user.is_authenticated and user.pk == user_id:
            live.add(key)
    return live


class SessionCheck:
    """One socket's session: whether it is still live, and the socket's place among this process's sockets,
    so that a logout or a deactivation ends it (`end`, the consumer's coroutine, then runs on its loop)."""

    def __init__(self, scope: dict, user, end):
        self.session_key = scope["session"].session_key
        self.key_hash = key_hash(self.session_key or "")
        self.user_id = user.pk
        self.end = end
        self.checked_at = time.monotonic()  # the handshake has just checked it
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ending: asyncio.Task | None = None

    async def watch(self) -> None:
        self.loop = asyncio.get_running_loop()
        with _lock:
            _sockets.add(self)
        if multi_process():
            await _join_sessions_group()
        if settings.OIDC_ENABLED:  # sessions signed in through the provider are re-checked there
            from chat import loop_tasks
            from chat.oidc import recheck

            loop_tasks.ensure("oidc-recheck", recheck.forever)

    def unwatch(self) -> None:
        with _lock:
            _sockets.discard(self)

    def due(self) -> bool:
        """Whether the last verdict is too old to trust (a prompt's check is made with its save: chat.intake)."""
        return time.monotonic() - self.checked_at >= settings.SESSION_RECHECK_SECONDS

    def held(self, checked_at: float) -> None:
        """The session was found live, as of `checked_at` (time.monotonic())."""
        self.checked_at = max(self.checked_at, checked_at)

    async def is_live(self) -> bool:
        if not self.due():
            return True
        checked_at = time.monotonic()
        live = await database_sync_to_async(session_holds)(self.session_key, self.user_id)
        if live:
            self.held(checked_at)
        return live

    def ended_elsewhere(self) -> None:
        """From any thread: end the socket on its own loop."""
        try:
            self.loop.call_soon_threadsafe(self._end_once)
        except RuntimeError:  # its loop has closed (the server is stopping): nothing left to end
            self.unwatch()

    def _end_once(self) -> None:
        if self.ending is None:
            self.ending = self.loop.create_task(self.end())


def end_sockets(*, session_hash: str | None = None, user_id: int | None = None) -> None:
    """End this process's sockets of a session (by its key's hash) or of a user. Any thread."""
    with _lock:
        ending = [socket for socket in _sockets if socket.key_hash == session_hash or socket.user_id == user_id]
    for socket in ending:
        socket.ended_elsewhere()


def open_session_keys() -> set[str]:
    """The sessions of this event loop's open sockets."""
    loop = asyncio.get_running_loop()
    with _lock:
        return {socket.session_key for socket in _sockets if socket.loop is loop and socket.session_key}


def end_session(session_key: str) -> None:
    """End a session's sockets in every process (its caller deletes the session). Any thread."""
    _end_everywhere(session_hash=key_hash(session_key))


def _end_everywhere(**whose) -> None:
    end_sockets(**whose)
    if multi_process():
        try:
            async_to_sync(control_layer().group_send)(SESSIONS_GROUP, {"type": "sessions.end", **whose})
        except Exception:
            # The logout itself must not fail; other processes' sockets end at their next frame.
            log.warning("Telling other processes to end sockets (%s) failed", whose, exc_info=True)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        _end_everywhere(session_hash=key_hash(session_key))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _user_saved(sender, instance, **kwargs):
    if not instance.is_active:
        _end_everywhere(user_id=instance.pk)


async def _join_sessions_group() -> None:
    loop = asyncio.get_running_loop()
    joined_at = _joined_at.get(loop)
    if joined_at is not None and time.monotonic() - joined_at < REJOIN_SECONDS:
        return
    _joined_at[loop] = time.monotonic()
    try:
        # The control channel: a second listener on the control layer would starve the first (chat.runs.control).
        await control_layer().group_add(SESSIONS_GROUP, await control_channel())
    except Exception:
        _joined_at.pop(loop, None)  # the next socket tries again; meanwhile sockets end at their next frame
        log.warning("Joining the group of processes with sockets failed", exc_info=True)

