"""The WebSocket handshake's Origin check: the whole origin (scheme, host and port), as Django checks a form post.

Channels' AllowedHostsOriginValidator compares only the host name, so a page on http://127.0.0.1:9999 or
https://localhost could open a socket to http://localhost:8000 with the user's cookie. Here a handshake is
accepted only when its Host is one Django serves (ALLOWED_HOSTS) and its Origin is this site's own origin
(the scheme the request arrived with, behind a TLS proxy too, and its Host) or one in CSRF_TRUSTED_ORIGINS.
A handshake with no Origin or no Host (both always sent by browsers) is refused.
"""

import logging
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}


class SiteOriginValidator:
    """ASGI middleware for WebSocket connections: refuses a handshake from any other origin."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def origin_allowed(scope) -> bool:
    headers = header_values(scope)
    origins, hosts = headers.get("origin", []), headers.get("host", [])
    if len(origins) != 1 or len(hosts) != 1:
        log.warning("WebSocket refused: %d Origin and %d Host headers (one of each is needed)", len(origins), len(hosts))
        return False
    origin, host = origins[0], hosts[0]
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts()):
        log.warning("WebSocket refused: Host %r is not in ALLOWED_HOSTS", host)
        return False
    if same_origin(origin, f"{request_scheme(scope, headers)}://{host}") or trusted(origin):
        return True
    log.warning("WebSocket refused: Origin %r is neither this site (Host %r) nor in CSRF_TRUSTED_ORIGINS", origin, host)
    return False


def header_values(scope) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in scope.get("headers", []):
        headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return headers


def allowed_hosts() -> list[str]:
    # As Django's HttpRequest.get_host(): with DEBUG and no ALLOWED_HOSTS, the local names are allowed.
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return settings.ALLOWED_HOSTS


def request_scheme(scope, headers: dict[str, list[str]]) -> str:
    """http or https, as Django's request.is_secure() would say for this connection (ws -> http, wss -> https)."""
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:  # HTTPS=true: the TLS proxy says which scheme the browser used
        meta_name, secure_value = proxy_header
        values = headers.get(meta_name.removeprefix("HTTP_").lower().replace("_", "-"))
        if values:
            return "https" if values[0].split(",", 1)[0].strip() == secure_value else "http"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def origin_parts(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a serialised origin such as https://chat.example.com, else None."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def same_origin(origin: str, own: str) -> bool:
    parsed = origin_parts(origin)
    return parsed is not None and parsed == origin_parts(own)


def trusted(origin: str) -> bool:
    """In CSRF_TRUSTED_ORIGINS: exactly, or under a wildcard (https://*.example.com), as Django's CSRF check."""
    parsed = origin_parts(origin)
    if parsed is None:
        return False
    for pattern in settings.CSRF_TRUSTED_ORIGINS:
        if "*" not in pattern:
            if same_origin(origin, pattern):
                return True
        else:
            pattern_parts = urlsplit(pattern)
            if pattern_parts.scheme == parsed[0] and is_same_domain(
                urlsplit(origin).netloc.lower(), pattern_parts.netloc.lstrip("*")
            ):
                return True
    return False
