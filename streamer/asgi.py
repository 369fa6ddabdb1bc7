import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamer.settings")
# Django must be set up before the consumers (and the models they import) are loaded.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
# Daphne's own app (first in INSTALLED_APPS) installed its asyncio reactor during setup: this is that one.
from twisted.internet import reactor  # noqa: E402

from chat.origins import SiteOriginValidator  # noqa: E402

from chat.providers import bedrock, local, threaded  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from streamer.server import warn_unless_measured  # noqa: E402
from streamer.sqlite_wal import keep_open  # noqa: E402

# Warm the default model up when the server starts serving (daphne runs Twisted's reactor), never on
# import: tests and tools import this module too. Daphne speaks no ASGI lifespan, so this is its hook.
reactor.callWhenRunning(keep_open)  # each database trip's close then skips SQLite's checkpoint (streamer.sqlite_wal)
reactor.callWhenRunning(threaded.warm_up)  # the threads streams are read on
reactor.callWhenRunning(bedrock.warm_up)
reactor.callWhenRunning(local.warm_up)
reactor.callWhenRunning(warn_unless_measured)  # plain `daphne` does not measure the sockets' send buffers

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SiteOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
