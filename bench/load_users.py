"""Create N users with a logged-in session each, in the database the environment's settings name.

    DATABASE_URL=... .venv/bin/python bench/load_users.py 1000     -> prints one session key a line

Sessions are written directly (the database session backend, as django.contrib.auth.login would
fill it), and passwords are unusable: hashing 1,000 passwords with PBKDF2 would take minutes.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamer.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.crypto import get_random_string  # noqa: E402


def main(count: int) -> None:
    User = get_user_model()  # noqa: N806
    password = make_password(None)
    with transaction.atomic():
        User.objects.bulk_create([User(username=f"bench{i:05d}", password=password) for i in range(count)])
        users = User.objects.filter(username__startswith="bench").order_by("username")[:count]
        store, expires = SessionStore(), timezone.now() + timedelta(days=1)
        sessions = [
            Session(
                session_key=get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789"),
                session_data=store.encode({
                    SESSION_KEY: str(user.pk),
                    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash(),
                }),
                expire_date=expires,
            )
            for user in users
        ]
        Session.objects.bulk_create(sessions)
    for session in sessions:
        print(session.session_key)


if __name__ == "__main__":
    main(int(sys.argv[1]))
