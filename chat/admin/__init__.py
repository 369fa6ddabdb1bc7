"""Staff review of every prompt and answer, exports, and the usage dashboard; the model catalog.

History is an audit record: nobody adds or edits it here. Superusers may delete it (a conversation with
its messages), except while a message is still streaming; `manage.py purge_history` deletes by age.
Django's admin autodiscovery imports this package: importing the modules registers their admins.
"""

from chat.admin import budgets, catalog, conversations, identities, messages  # noqa: F401

