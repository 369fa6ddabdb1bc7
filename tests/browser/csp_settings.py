"""The app's settings plus a Content-Security-Policy header that forbids inline script, for test_page_csp.py."""

from streamer.settings import *  # noqa: F403
from streamer.settings import MIDDLEWARE

CSP = "script-src 'self'; object-src 'none'; base-uri 'none'"
MIDDLEWARE = [*MIDDLEWARE, "tests.browser.csp_settings.content_security_policy"]


def content_security_policy(get_response):
    def middleware(request):
        response = get_response(request)
        response["Content-Security-Policy"] = CSP
        return response

    return middleware
