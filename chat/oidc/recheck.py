"""Whether a session signed in through the provider still holds there: every OIDC_RECHECK_SECONDS its
refresh token is sent to the provider's token endpoint. A provider refuses it (`invalid_grant`) once the
user is removed or disabled there, or their provider session was ended; then the session is deleted and
its sockets end in every process (chat.sessions), and the provider refuses the next sign-in itself.

The user's groups and staff flag are then set from the refreshed claims (the new ID token's, the
userinfo's) as at sign-in. Checked on the session's HTTP requests (RecheckMiddleware) and, for open
sockets, by one task per event loop. A provider that cannot be reached ends nothing (logged; tried again
at the next check): a provider outage must not sign everyone out. Sessions without a refresh token (the provider issued none) cannot be
re-checked and last until they expire; the sign-in logs a warning then.
"""

import asyncio
import logging
import threading
import time
import weakref
from importlib import import_module

import requests
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib import auth
from django.contrib.sessions.models import Session
from django.db import transaction
from django.shortcuts import redirect

from chat import sessions
from chat.oidc import discovery

log = logging.getLogger(__name__)


# One lock per session being re-checked in this process (a page request's thread and the sockets' task may
# check one session at once); between processes, the session's row lock (PostgreSQL) does it.
_locks: "weakref.WeakValueDictionary[str, threading.Lock]" = weakref.WeakValueDictionary()
_locks_lock = threading.Lock()


def _lock_for(session_key: str) -> threading.Lock:
    with _locks_lock:
        lock = _locks.get(session_key)
        if lock is None:
            lock = _locks[session_key] = threading.Lock()
        return lock


class Refused(Exception):
    """The provider refused the refresh token: the session no longer holds there."""


def due(data) -> bool:
    return bool(data.get("oidc_refresh_token")) and (
        time.time() - float(data.get("oidc_checked_at", 0)) >= settings.OIDC_RECHECK_SECONDS)


def refresh(refresh_token: str) -> dict:
    """The token response, with the refresh token to keep (providers may rotate it); Refused when the
    provider says invalid_grant."""
    response = requests.post(
        discovery.metadata()["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET), timeout=settings.OIDC_TIMEOUT,
    )
    if response.status_code in (400, 401):
        try:
            error = response.json().get("error")
        except ValueError:
            error = None
        if error == "invalid_grant":
            raise Refused(response.text[:300])
    response.raise_for_status()
    tokens = response.json()
    return tokens | {"refresh_token": tokens.get("refresh_token") or refresh_token}


def recheck(session_key: str, session=None) -> bool:
    """Re-check one session if it is due: False when the provider refused it (the session is then deleted
    and its sockets end). `session`, the request's own session object, gets the new values too.

    The session is locked meanwhile, so two threads or processes never both spend one (rotating) refresh token."""
    with _lock_for(session_key):
        return _recheck(session_key, session)


def _recheck(session_key: str, session) -> bool:
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    with transaction.atomic():
        if "db" in settings.SESSION_ENGINE:
            Session.objects.select_for_update().filter(pk=session_key).first()
        store = store_class(session_key)
        if not due(store):
            if session is not None:
                session["oidc_refresh_token"] = store.get("oidc_refresh_token", "")
                session["oidc_checked_at"] = store.get("oidc_checked_at", 0)
            return True
        try:
            tokens = refresh(store["oidc_refresh_token"])
            sync_groups(store, tokens)
        except Refused as refusal:
            log.info("The provider refused session %s… (%s): ending it", sessions.key_hash(session_key)[:8], refusal)
            store.delete()
            transaction.on_commit(lambda: sessions.end_session(session_key))
            return False
        except (requests.RequestException, ValueError, discovery.ProviderUnavailable) as error:
            log.warning("Could not re-check a session with the provider (kept until the next check): %s", error)
            return True
        for data in filter(lambda d: d is not None, (store, session)):
            data["oidc_refresh_token"], data["oidc_checked_at"] = tokens["refresh_token"], time.time()
        store.save()
    return True


def sync_groups(store, tokens: dict) -> None:
    """The session's user's groups and staff flag set from the refreshed claims (the new ID token's and the
    userinfo's, as at sign-in) when they carry the groups claim: a user moved out of a group at the provider
    loses its models and budgets here within OIDC_RECHECK_SECONDS, not at their next sign-in. Claims that
    fail verification, or are about another subject, end the session (Refused)."""
    from django.contrib.auth import get_user_model
    from django.core.exceptions import SuspiciousOperation

    from chat.oidc.backend import OidcBackend, sync_from_claims

    backend, id_token = OidcBackend(), tokens.get("id_token")
    try:
        payload = backend._verify_jws(id_token, backend.retrieve_matching_jwk(id_token)) if id_token else {}
        claims = backend.claims_with_userinfo(tokens.get("access_token"), id_token, payload)
    except SuspiciousOperation as error:
        raise Refused(f"the refreshed claims were refused: {error}") from None
    if not claims:
        return
    user = get_user_model().objects.filter(pk=store.get(auth.SESSION_KEY)).select_related("oidc_identity").first()
    identity = getattr(user, "oidc_identity", None) if user is not None else None
    if identity is None or identity.subject != claims.get("sub"):
        raise Refused("the refreshed claims are about another subject (or a session from before subjects were kept)")
    if settings.OIDC_GROUPS_CLAIM in claims:
        sync_from_claims(user, claims)


class RecheckMiddleware:
    """Re-checks the signed-in session of each request when due; a refused one is logged out."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = request.session
        if request.user.is_authenticated and session.session_key and due(session):
            if not recheck(session.session_key, session):
                auth.logout(request)
                return redirect(settings.LOGIN_URL)
        return self.get_response(request)


async def forever() -> None:
    """This loop's open sockets' sessions, re-checked when due (chat.loop_tasks runs it once per loop)."""
    tick = min(settings.OIDC_RECHECK_SECONDS / 2, 30.0)
    while True:
        await asyncio.sleep(tick)
        for session_key in sessions.open_session_keys():
            try:
                await database_sync_to_async(recheck)(session_key)
            except Exception:
                log.exception("Re-checking a session with the provider failed")
