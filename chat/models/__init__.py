"""The app's models, one module per concern; everything is importable from chat.models as before."""

from chat.models.attachments import Attachment
from chat.models.budgets import Budget, BudgetCounter, Reservation
from chat.models.catalog import CatalogEntry
from chat.models.conversations import TITLE_LENGTH, Conversation
from chat.models.identities import OidcIdentity
from chat.models.messages import CHECKPOINT_ROWS_PER_STATEMENT, Message, tokens_per_second
from chat.models.turns import NOT_FOUND, checked_params, stale_before
from chat.models.usage import UsageDay, UsageMonth, UsageTotalDay

__all__ = [
    "Attachment", "Budget", "BudgetCounter", "Reservation", "CatalogEntry", "Conversation", "Message", "OidcIdentity", "TITLE_LENGTH",
    "CHECKPOINT_ROWS_PER_STATEMENT", "NOT_FOUND", "checked_params", "stale_before", "tokens_per_second", "UsageDay",
    "UsageMonth", "UsageTotalDay",
]
