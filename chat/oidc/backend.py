"""mozilla-django-oidc's backend, with the endpoints from discovery, the ID token's issuer and audience
checked (the library checks only its signature, expiry and nonce), and users kept in step with their claims:
created at first sign-in, their Django groups and staff flag set from the groups claim at every sign-in."""

import logging
import time

import jwt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.db import transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from chat.models import OidcIdentity
from chat.oidc import discovery

log = logging.getLogger(__name__)

GROUP_NAME_MAX = Group._meta.get_field("name").max_length


class OidcBackend(OIDCAuthenticationBackend):
    # The library reads its settings in __init__; this backend is also loaded for every password login and
    # every request's user, so nothing is read from the provider until a sign-in needs it.
    def __init__(self, *args, **kwargs):
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = getattr(settings, "OIDC_RP_CLIENT_ID", "")
        self.OIDC_RP_CLIENT_SECRET = getattr(settings, "OIDC_RP_CLIENT_SECRET", "")
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.token_info = {}

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self):  # noqa: N802 (the library's attribute names)
        return discovery.metadata()["token_endpoint"]

    @property
    def OIDC_OP_USER_ENDPOINT(self):  # noqa: N802
        return discovery.metadata().get("userinfo_endpoint")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self):  # noqa: N802
        return discovery.metadata()["jwks_uri"]

    def authenticate(self, request, **kwargs):
        if not settings.OIDC_ENABLED or request is None or "code" not in request.GET:
            return None  # a password login, or OIDC not configured
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id):
        # ModelBackend's, which refuses an inactive user (the library's does not): a deactivated user's
        # sessions, and so their sockets (chat.sessions), end.
        return ModelBackend.get_user(self, user_id)

    def get_token(self, payload):
        self.token_info = super().get_token(payload)
        return self.token_info

    def _verify_jws(self, payload, key):
        header = jwt.get_unverified_header(payload)
        if header.get("alg") not in settings.OIDC_SIGN_ALGORITHMS:
            raise SuspiciousOperation(f"ID token signed with {header.get('alg')!r}, not {settings.OIDC_SIGN_ALGORITHMS}")
        try:
            return jwt.decode(payload, key, algorithms=settings.OIDC_SIGN_ALGORITHMS, audience=self.OIDC_RP_CLIENT_ID,
                              issuer=settings.OIDC_ISSUER, options={"require": ["iss", "aud", "sub", "exp", "iat"]},
                              leeway=settings.OIDC_CLOCK_LEEWAY_SECONDS)
        except jwt.PyJWTError as error:
            raise SuspiciousOperation(f"ID token refused: {error}") from None

    def store_tokens(self, access_token, id_token):
        session = self.request.session
        session["oidc_id_token"] = id_token  # the id_token_hint of RP-initiated logout
        session["oidc_refresh_token"] = self.token_info.get("refresh_token", "")
        session["oidc_checked_at"] = time.time()
        if not session["oidc_refresh_token"]:
            log.warning("The provider issued no refresh token: a user removed there keeps this session until it "
                        "expires (add offline_access to OIDC_SCOPES if the provider needs it)")

    def get_or_create_user(self, access_token, id_token, payload):
        return self._user_from_claims(self.claims_with_userinfo(access_token, id_token, payload))

    def claims_with_userinfo(self, access_token, id_token, payload: dict) -> dict:
        """The ID token's claims with the userinfo endpoint's over them (when there is one), which must be
        about the same subject (OpenID Connect Core 1.0, section 5.3.2)."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT and access_token:
            userinfo = self.get_userinfo(access_token, id_token, payload)
            if payload and userinfo.get("sub") != payload.get("sub"):
                raise SuspiciousOperation("The userinfo response is about another subject")
            claims.update(userinfo)
        return claims

    def _user_from_claims(self, claims):
        """The account of the token's subject; at its first sign-in a new account, or an existing one of the
        same name that no subject holds yet (OIDC_LINK_EXISTING_USERS; never a superuser). None: refused."""
        username, subject = username_from(claims), subject_from(claims)
        with transaction.atomic():
            identity = OidcIdentity.objects.select_related("user").filter(issuer=settings.OIDC_ISSUER, subject=subject).first()
            if identity is not None:
                user = identity.user
                if user.username != username and not self.UserModel.objects.filter(username=username).exists():
                    user.username = username  # renamed at the provider: the account follows its subject
                    user.save(update_fields=["username"])
            else:
                user = self.UserModel.objects.filter(username=username).first()
                if user is None:
                    user = self.UserModel(username=username, email=str(claims.get("email") or "")[:254])
                    user.set_unusable_password()  # signs in through the provider only
                    user.save()
                elif refusal := why_not_linkable(user):
                    log.warning("Single sign-on refused: the account %r is not the provider subject %r's (%s)",
                                username, subject, refusal)
                    return None
                OidcIdentity.objects.create(user=user, issuer=settings.OIDC_ISSUER, subject=subject)
            sync_from_claims(user, claims)
        return user


def subject_from(claims: dict) -> str:
    value = claims.get("sub")
    if not isinstance(value, str) or not value or len(value) > 255:
        raise SuspiciousOperation("The ID token's sub is not a string of 1-255 characters")
    return value


def why_not_linkable(user) -> str | None:
    """Why an existing account may not be linked to a subject signing in with its name; None: it may."""
    if OidcIdentity.objects.filter(user=user).exists():
        return "it belongs to another subject"
    if user.is_superuser:
        return "a superuser is never linked by name"
    if not settings.OIDC_LINK_EXISTING_USERS:
        return "OIDC_LINK_EXISTING_USERS is off"
    return None


def username_from(claims: dict) -> str:
    value = claims.get(settings.OIDC_USERNAME_CLAIM)
    if not isinstance(value, str) or not value:
        raise SuspiciousOperation(f"The provider's claims lack {settings.OIDC_USERNAME_CLAIM!r} (OIDC_USERNAME_CLAIM)")
    try:
        UnicodeUsernameValidator()(value)
    except ValidationError:
        raise SuspiciousOperation(f"{settings.OIDC_USERNAME_CLAIM}={value!r} is not a valid username") from None
    if len(value) > 150:
        raise SuspiciousOperation(f"{settings.OIDC_USERNAME_CLAIM} is longer than 150 characters")
    return value


def group_names_from(claims: dict) -> list[str]:
    value = claims.get(settings.OIDC_GROUPS_CLAIM, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SuspiciousOperation(f"The {settings.OIDC_GROUPS_CLAIM!r} claim is not a list of group names")
    names = []
    for name in value:
        if not isinstance(name, str) or not name.strip() or len(name) > GROUP_NAME_MAX:
            log.warning("Ignoring the group %r from the provider (not a name of 1-%d characters)", name, GROUP_NAME_MAX)
            continue
        names.append(name)
    return names


def sync_from_claims(user, claims: dict) -> None:
    """The user's Django groups become exactly the claim's (created as needed), staff exactly when one of
    them is in OIDC_STAFF_GROUPS. Superuser is never given by the provider."""
    names = group_names_from(claims)
    groups = []
    for name in names:
        group, _ = Group.objects.get_or_create(name=name)
        groups.append(group)
    user.groups.set(groups)
    is_staff = bool(set(names) & set(settings.OIDC_STAFF_GROUPS))
    email = str(claims.get("email") or user.email)[:254]
    if user.is_staff != is_staff or user.email != email:
        user.is_staff, user.email = is_staff, email
        user.save(update_fields=["is_staff", "email"])
