"""Make sure an admin account exists, so a first `make run` can be logged into at once."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, call_command


class Command(BaseCommand):
    help = "Create the admin account from DJANGO_SUPERUSER_* or, on the first run, 'admin' with a random password."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="The address to print for logging in.")

    def handle(self, *args, url, **options):
        users = get_user_model().objects
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME")
        if username and os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            if not users.filter(username=username).exists():
                # Django's default user requires an email with --noinput; an admin need not have one.
                email = os.environ.get("DJANGO_SUPERUSER_EMAIL") or f"{username}@localhost"
                call_command("createsuperuser", interactive=False, email=email, verbosity=0)
                self.stdout.write(f"Created admin account '{username}' from DJANGO_SUPERUSER_USERNAME.")
            return
        if users.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser("admin", "", password)
        # Printed once: the password is not stored anywhere in clear text.
        self.stdout.write(
            self.style.SUCCESS(
                f"\nCreated the admin account.\n  Open:     {url}\n  Username: admin\n  Password: {password}\n"
                "  (shown only this once; change it in the admin)\n"
            )
        )
