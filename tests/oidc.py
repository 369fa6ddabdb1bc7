"""A real OpenID Connect provider process for the sign-in tests (tests/oidc_provider/provider.mjs: the certified
`oidc-provider` package run by Node), and a person signing in through it without a browser."""

import json
import shutil
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.servers import PROJECT, Daphne, app_env, free_port, manage

PROVIDER_DIR = PROJECT / "tests" / "oidc_provider"
USERS = {
    "alice": {"password": "alice-idp-pass", "email": "alice@example.com", "groups": ["engineering"]},
    "bob": {"password": "bob-idp-pass", "email": "bob@example.com", "groups": ["finance"]},
    "carol": {"password": "carol-idp-pass", "email": "carol@example.com", "groups": ["engineering", "streamer-admins"]},
}
STAFF_GROUP = "streamer-admins"


class OidcProvider:
    def __init__(self):
        if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError("The test OIDC provider is not installed: run `make oidc-provider` "
                               "(npm ci in tests/oidc_provider)")
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([shutil.which("node") or "node", "provider.mjs", str(self.port)], cwd=PROVIDER_DIR,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        for line in self.process.stdout:
            if line.startswith("ready "):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the OIDC provider did not start")
        else:
            raise RuntimeError(f"the OIDC provider exited with {self.process.wait()}")
        self.set_users(USERS)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def post(self, path: str, body) -> dict:
        response = requests.post(f"{self.issuer}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def set_users(self, users: dict) -> None:
        self.post("/test/users", users)

    def change_user(self, username: str, **changes) -> None:
        self.users = getattr(self, "users", json.loads(json.dumps(USERS)))
        self.users[username] |= changes
        self.set_users(self.users)

    def remove_user(self, username: str) -> None:
        self.users = getattr(self, "users", json.loads(json.dumps(USERS)))
        self.users.pop(username)
        self.set_users(self.users)

    def reset_users(self) -> None:
        self.users = json.loads(json.dumps(USERS))
        self.set_users(self.users)
        self.post("/test/tamper", {"mode": None})

    def tamper_next_id_token(self) -> None:
        self.post("/test/tamper", {"mode": "claims"})

    def register_client(self, *app_urls: str) -> tuple[str, str]:
        """A client for an app at app_urls (dynamic client registration, as an administrator registers one)."""
        client = self.post("/reg", {
            "redirect_uris": [f"{url}/oidc/callback/" for url in app_urls],
            "post_logout_redirect_uris": [f"{url}/accounts/login/" for url in app_urls],
            "grant_types": ["authorization_code", "refresh_token"],
        })
        return client["client_id"], client["client_secret"]

    def env(self, client: tuple[str, str], **more: str) -> dict:
        return {"OIDC_ISSUER": self.issuer, "OIDC_CLIENT_ID": client[0], "OIDC_CLIENT_SECRET": client[1],
                "OIDC_SCOPES": "openid email profile groups", "OIDC_STAFF_GROUPS": STAFF_GROUP,
                "OIDC_PROVIDER_NAME": "Test IdP"} | more


def start_app(provider: OidcProvider, tmp, **env: str) -> Daphne:
    """A real daphne with single sign-on configured by its environment, on a port its client names."""
    port = free_port()
    client = provider.register_client(f"http://127.0.0.1:{port}")
    app_environment = app_env(DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}", DATA_DIR=str(tmp), REDIS_URL="",
                              **({"LOG_LEVEL": "WARNING"} | provider.env(client, **env)))
    manage(app_environment, "migrate", "--noinput")
    return Daphne(app_environment, tmp / "daphne.log", port=port).start()


class Person:
    """Someone with a browser-like cookie jar at the provider, signing in to an app driven by `app_get`
    (Django's test client's get, or requests against a live server): follows redirects while they stay at
    the provider, and returns the redirect that leaves it (to the app's callback)."""

    def __init__(self, provider: OidcProvider):
        self.provider = provider
        self.browser = requests.Session()

    def at_provider(self, url: str) -> requests.Response:
        """Follows the provider's redirects; the last response (a page, or a redirect leaving the provider)."""
        response = self.browser.get(url, allow_redirects=False, timeout=10)
        while response.is_redirect and self._is_provider(response.headers["Location"]):
            response = self.browser.get(self._absolute(response.headers["Location"]), allow_redirects=False, timeout=10)
        return response

    def log_in(self, page: requests.Response, username: str, password: str) -> requests.Response:
        action = page.text.split('action="', 1)[1].split('"', 1)[0]
        response = self.browser.post(self._absolute(action), data={"username": username, "password": password},
                                     allow_redirects=False, timeout=10)
        if response.is_redirect and self._is_provider(response.headers["Location"]):
            return self.at_provider(self._absolute(response.headers["Location"]))
        return response

    def callback_for(self, authorize_url: str, username: str, password: str | None = None) -> str:
        """The app's callback URL the provider sends the browser back to, after signing in if asked."""
        response = self.at_provider(authorize_url)
        if not response.is_redirect:  # the provider's login page
            response = self.log_in(response, username, password or USERS[username]["password"])
        assert response.is_redirect, f"the provider did not send the browser back: {response.status_code} {response.text[:300]}"
        return response.headers["Location"]

    def _is_provider(self, url: str) -> bool:
        return url.startswith("/") or url.startswith(self.provider.issuer)

    def _absolute(self, url: str) -> str:
        return url if url.startswith("http") else f"{self.provider.issuer}{url}"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def own_provider():
    """A provider process of one's own, stopped after: the fixture of tests that remove users at the
    provider or keep an app running against it (`provider = pytest.fixture(scope=...)(own_provider)`)."""
    provider = OidcProvider()
    try:
        yield provider
    finally:
        provider.stop()


oidc_provider = pytest.fixture(scope="session", name="oidc_provider")(own_provider)


@pytest.fixture
def oidc(settings, oidc_provider):
    """Single sign-on turned on for Django's test client (http://testserver), as the OIDC_* variables do."""
    from chat.oidc import discovery

    oidc_provider.reset_users()
    client_id, secret = oidc_provider.register_client("http://testserver")
    settings.OIDC_ISSUER, settings.OIDC_ENABLED = oidc_provider.issuer, True
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = client_id, secret
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.OIDC_STAFF_GROUPS = [STAFF_GROUP]
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "chat.oidc.backend.OidcBackend"]
    settings.AXES_WHITELIST_CALLABLE = "chat.oidc.views.is_provider_sign_in"
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                      "chat.oidc.recheck.RecheckMiddleware")
    settings.MIDDLEWARE = middleware
    discovery.forget()
    yield oidc_provider
    discovery.forget()


def sign_in(client, provider: OidcProvider, username: str, next_url: str = ""):
    """Through the app's sign-in button and the provider's login form; the app's answer to the callback."""
    start = client.get("/oidc/authenticate/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start.content[:300]
    callback = Person(provider).callback_for(start["Location"], username)
    return client.get(path_of(callback))
