"""The answer to a login refused by django-axes (AXES_LOCKOUT_CALLABLE): HTTP 429 and when to try again."""

import math

from axes.helpers import get_cool_off
from django.shortcuts import render
from django.utils import timezone


def lockout_response(request, *args, **kwargs):
    """Axes calls this with (request, response, credentials), or (request, credentials) on the async path."""
    cool_off = get_cool_off(request)
    seconds = math.ceil(cool_off.total_seconds())
    context = {
        "username": request.POST.get("username", ""),
        "minutes": max(1, math.ceil(seconds / 60)),
        "retry_at": timezone.now() + cool_off,  # each try restarts the wait, so it runs from now
        "login_url": request.path,  # the page the person used: the site's or the admin's
    }
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
