"""Readers of the single sign-on settings (streamer/settings.py): each fails loudly on a value it cannot use.
Pure functions: imported by the settings module, before Django is set up."""

import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")  # RFC 6749, appendix A.4
CLAIM_NAME = re.compile(r"^[^\s]{1,200}$")
# Asymmetric signatures only, verified with the provider's published keys (jwks_uri); never HS* or none.
SIGN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


def issuer(value: str) -> str:
    """The issuer exactly as the provider names it in its tokens (a trailing slash is kept: some have one)."""
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if not parts.hostname or parts.query or parts.fragment or parts.scheme not in ("https", "http"):
        raise ImproperlyConfigured(f"OIDC_ISSUER={value!r} is not an issuer URL such as https://idp.example.com/realms/team")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ImproperlyConfigured(f"OIDC_ISSUER={value!r} must use https (http only on this machine, for tests)")
    return value


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def scopes(value: str) -> str:
    names = [name for name in re.split(r"[\s,]+", value) if name]
    if "openid" not in names:
        raise ImproperlyConfigured(f"OIDC_SCOPES={value!r} must include openid")
    for name in names:
        if not SCOPE_TOKEN.match(name):
            raise ImproperlyConfigured(f"OIDC_SCOPES: {name!r} is not a scope name")
    return " ".join(dict.fromkeys(names))


def claim_name(setting: str, value: str) -> str:
    value = value.strip()
    if not CLAIM_NAME.match(value):
        raise ImproperlyConfigured(f"{setting}={value!r} is not a claim name")
    return value


def provider_name(value: str) -> str:
    value = " ".join(value.split())
    if not 1 <= len(value) <= 60:
        raise ImproperlyConfigured("OIDC_PROVIDER_NAME must be 1 to 60 characters (the sign-in button's label)")
    return value
