"""The provider's metadata from OIDC_ISSUER's discovery document, read at first use and kept an hour.

A provider that cannot be reached raises ProviderUnavailable with what was tried, which the sign-in pages
show; nothing is cached then, so the next sign-in tries again.
"""

import threading
import time

import requests
from django.conf import settings

CACHE_SECONDS = 3600
REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")

_lock = threading.Lock()
_cached: dict[str, tuple[float, dict]] = {}  # issuer -> (read at, metadata)


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be read or is not usable."""


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def metadata() -> dict:
    issuer = settings.OIDC_ISSUER
    with _lock:
        cached = _cached.get(issuer)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
    document = _read(issuer)
    with _lock:
        _cached[issuer] = (time.monotonic(), document)
    return document


def forget() -> None:
    with _lock:
        _cached.clear()


def _read(issuer: str) -> dict:
    url = discovery_url(issuer)
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"Could not read {url}: {error}") from None
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url} is not a JSON object")
    missing = [name for name in REQUIRED if not isinstance(document.get(name), str)]
    if missing:
        raise ProviderUnavailable(f"{url} lacks {', '.join(missing)}")
    # OpenID Connect Discovery 1.0, section 4.3: the document must name exactly the issuer it was read from.
    if document["issuer"] != issuer:
        raise ProviderUnavailable(f"{url} names the issuer {document['issuer']!r}, not OIDC_ISSUER={issuer!r}")
    return document
