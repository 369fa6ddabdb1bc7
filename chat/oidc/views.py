"""The sign-in pages: the provider's sign-in start and callback, logout that also ends the provider's
session (RP-initiated logout), and the password login pages, closed to passwords when PASSWORD_LOGIN=false."""

import logging
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import admin, auth
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.views.decorators.http import require_POST
from mozilla_django_oidc import views as oidc_views

from chat.oidc import discovery

log = logging.getLogger(__name__)

PASSWORDS_OFF = "Password sign-in is turned off on this site. Use the single sign-on button instead."


def unavailable(request, error: Exception):
    log.warning("Single sign-on is unavailable: %s", error)
    return render(request, "registration/sso_unavailable.html",
                  {"provider_name": settings.OIDC_PROVIDER_NAME, "reason": str(error)}, status=503)


def require_oidc() -> None:
    if not settings.OIDC_ENABLED:
        raise Http404("Single sign-on is not configured")


class SignIn(oidc_views.OIDCAuthenticationRequestView):
    """Sends the browser to the provider with state, nonce and a PKCE challenge (kept in the session)."""

    def __init__(self, **kwargs):
        super(oidc_views.OIDCAuthenticationRequestView, self).__init__(**kwargs)  # not the library's: no settings yet

    def get(self, request):
        require_oidc()
        try:
            self.OIDC_OP_AUTH_ENDPOINT = discovery.metadata()["authorization_endpoint"]
        except discovery.ProviderUnavailable as error:
            return unavailable(request, error)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class Callback(oidc_views.OIDCAuthenticationCallbackView):
    """The provider's answer. A wrong or replayed `state` and a forged ID token are refused by the library
    (SuspiciousOperation: HTTP 400); a provider that cannot be reached gets a page saying so."""

    def get(self, request):
        require_oidc()
        try:
            return super().get(request)
        except discovery.ProviderUnavailable as error:
            return unavailable(request, error)
        except requests.HTTPError as error:  # the token endpoint refused the code
            log.warning("Sign-in refused by the provider: %s", error)
            return self.login_failure()
        except requests.RequestException as error:
            return unavailable(request, error)


class LoginView(auth_views.LoginView):
    """Django's login page, offering the provider's button; with PASSWORD_LOGIN=false a password POST is
    refused before any password is checked."""

    def post(self, request, *args, **kwargs):
        if not settings.PASSWORD_LOGIN:
            return passwords_off(request)
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | sign_in_options(self.request)


def sign_in_options(request) -> dict:
    return {
        "oidc_enabled": settings.OIDC_ENABLED,
        "password_login": settings.PASSWORD_LOGIN,
        "provider_name": settings.OIDC_PROVIDER_NAME,
        "sso_failed": request.GET.get("sso") == "failed",
    }


def passwords_off(request):
    return render(request, "registration/passwords_off.html", {"message": PASSWORDS_OFF}, status=403)


def admin_login(request, extra_context=None):
    """The admin's login page: the admin's own form while passwords are allowed, else the site's sign-in."""
    if settings.PASSWORD_LOGIN:
        return admin.site.login(request, extra_context)
    if request.method == "POST":
        return passwords_off(request)
    next_url = request.GET.get("next") or reverse("admin:index")
    return HttpResponseRedirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_url})}")


@require_POST
def logout(request):
    """Logs out here, then, for a session signed in through the provider, at the provider too where it
    offers an end_session_endpoint (it comes back to the login page)."""
    id_token = request.session.get("oidc_id_token")
    auth.logout(request)
    login_page = resolve_url(settings.LOGOUT_REDIRECT_URL)
    if not (settings.OIDC_ENABLED and id_token):
        return HttpResponseRedirect(login_page)
    try:
        end_session = discovery.metadata().get("end_session_endpoint")
    except discovery.ProviderUnavailable as error:
        log.warning("Logged out here only: %s", error)
        return HttpResponseRedirect(login_page)
    if not end_session:
        return HttpResponseRedirect(login_page)
    query = urlencode({"id_token_hint": id_token, "client_id": settings.OIDC_RP_CLIENT_ID,
                       "post_logout_redirect_uri": request.build_absolute_uri(login_page)})
    return HttpResponseRedirect(f"{end_session}{'&' if '?' in end_session else '?'}{query}")


def is_provider_sign_in(request, credentials) -> bool:
    """django-axes' AXES_WHITELIST_CALLABLE: the provider's callback carries no password to throttle (the
    provider throttles its own sign-in), so it neither counts as a failed login nor waits out a lockout."""
    return request is not None and request.path == reverse("oidc_authentication_callback")
