from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from chat import sessions  # noqa: F401  its signal receivers end the sockets of ended sessions
        from chat import checks  # noqa: F401 - registers the system checks
