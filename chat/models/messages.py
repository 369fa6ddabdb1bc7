"""Messages: one turn each, the prompt and the model's answer."""

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Case, Exists, F, FloatField, OuterRef, When
from django.db.models.functions import Cast
from django.utils import timezone

from chat.models import usage
from chat.models.attachments import Attachment
from chat.models.conversations import Conversation
from chat.pricing import amount_text
from chat.models.turns import TurnQuerySetMixin

# 4 parameters a row: well inside SQLite's 32,766 and PostgreSQL's 65,535 parameters per statement.
CHECKPOINT_ROWS_PER_STATEMENT = 500

# What Message.finish records besides the status and the text; each one not given is reset to its default.
OUTCOME_FIELDS = (
    "reasoning", "seq", "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_write_input_tokens",
    "ttft_ms", "answer_ms", "duration_ms", "server_latency_ms", "stop_reason", "error_code", "error_detail",
    "reasoning_signature", "reasoning_redacted", "citations", "guardrail", "invoked_model", "cost", "currency",
)


def tokens_per_second():
    """Output tokens per second of generation (after the first token), or NULL when it cannot be known:
    an expression, for annotations and aggregates."""
    generation_ms = Cast(F("duration_ms"), FloatField()) - Cast(F("ttft_ms"), FloatField())
    return Case(
        When(output_tokens__isnull=False, duration_ms__gt=F("ttft_ms"),
             then=Cast(F("output_tokens"), FloatField()) * 1000.0 / generation_ms),
        default=None,
        output_field=FloatField(),
    )


def user_turn(text: str, files: list | None) -> dict:
    return {"role": "user", "text": text, "attachments": files} if files else {"role": "user", "text": text}


class MessageQuerySet(TurnQuerySetMixin, models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user)

    def with_tokens_per_second(self):
        """Each message with `tokens_per_second`, computed (and sortable) in the database."""
        return self.annotate(tokens_per_second=tokens_per_second())

    def streaming(self):
        return self.filter(status=Message.Status.STREAMING)

    def live(self, stale_before):
        """Streaming messages whose run has shown a heartbeat since `stale_before`."""
        return self.streaming().filter(heartbeat_at__gte=stale_before)

    def orphaned(self, stale_before):
        """Streaming messages whose run has gone quiet: its process died or was killed."""
        return self.streaming().filter(models.Q(heartbeat_at__lt=stale_before) | models.Q(heartbeat_at__isnull=True))

    def mark_interrupted(self) -> int:
        """Close these messages as `interrupted`, keeping the text of their last checkpoint, count each in
        the usage rollup and settle its budget reservations. One at a time, each only if still streaming: a
        run that finishes it meanwhile counts it instead, never both."""
        from chat import budgets

        count = 0
        for pk in list(self.filter(status=Message.Status.STREAMING).values_list("pk", flat=True)):
            with transaction.atomic():
                streaming = Message.objects.filter(pk=pk, status=Message.Status.STREAMING)
                if streaming.update(status=Message.Status.INTERRUPTED, finished=timezone.now()):
                    usage.record(Message.objects.only(*usage.MESSAGE_FIELDS).get(pk=pk))
                    budgets.settle([pk])
                    count += 1
        return count


class Message(models.Model):
    """One turn: the user's prompt and the model's answer, saved before the model is called."""

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        INTERRUPTED = "interrupted"
        ERROR = "error"
        # A guardrail intervened (stop reason guardrail_intervened) or the provider's content filter did.
        BLOCKED = "blocked"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    # Denormalised from the conversation so a user's client request ids can be unique in the database.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    prompt = models.TextField()
    response = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STREAMING, db_index=True)
    model_key = models.CharField(max_length=200, help_text="The catalog key the user picked.")
    model_id = models.CharField(max_length=500, help_text="The provider's model id, profile id or ARN.")
    provider = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True, help_text="The generation parameters used.")
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField("time to first token (ms)", null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    stop_reason = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_detail = models.TextField(blank=True, help_text="The sentence shown to the user.")
    # Protocol v1.1: what else the stream carried. Reasoning is kept for review only; it is never sent back
    # to the model (see docs/protocol.md). The signature / redacted bytes are stored unchanged.
    reasoning = models.TextField(blank=True)
    reasoning_signature = models.TextField(blank=True)
    reasoning_redacted = models.BinaryField(null=True, blank=True)
    citations = models.JSONField(default=list, blank=True, help_text='[{"title", "source", "location", "text"}]')
    guardrail = models.JSONField(null=True, blank=True, help_text="The compact guardrail trace of a blocked answer.")
    cache_read_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    cache_write_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True,
                               help_text="From the catalog model's prices, with cache tokens priced separately.")
    currency = models.CharField(max_length=3, blank=True)
    server_latency_ms = models.PositiveIntegerField("server latency (ms)", null=True, blank=True,
                                                    help_text="Bedrock's own latencyMs.")
    answer_ms = models.PositiveIntegerField("time to first answer token (ms)", null=True, blank=True)
    invoked_model = models.CharField(max_length=500, blank=True, help_text="The model a prompt router picked.")
    client_request_id = models.CharField(max_length=100)
    upstream_request_id = models.CharField(max_length=100, blank=True, help_text="Bedrock's request id, for AWS support.")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    seq = models.PositiveIntegerField(default=0, help_text="How many deltas `response` holds.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last checkpoint of the live run.")
    created = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    finished = models.DateTimeField(null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["user", "client_request_id"], name="unique_client_request_per_user"),
        ]
        indexes = [
            # Covers the usage dashboard's aggregates, so a month of history is read from the index
            # instead of the table with its long prompt and response text.
            models.Index(
                fields=["created", "model_key", "status", "user", "error_code", "input_tokens", "output_tokens",
                        "ttft_ms", "duration_ms", "cache_read_input_tokens", "cache_write_input_tokens", "cost", "currency"],
                name="message_usage_idx",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {Conversation.title_from(self.prompt)}"

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.STREAMING

    @classmethod
    def checkpoint_many(cls, partials: list[tuple[int, str, str, int]]) -> None:
        """Save (id, partial answer, its reasoning, seq) with a heartbeat for many messages, a few hundred rows per
        statement; never overwrites a message that has already ended. One UPDATE … FROM (VALUES …) rather
        than a query per row: under load the database thread waits for the interpreter lock at every
        statement, and per-row statements stretched checkpoints of 1,000 answers to several seconds."""
        quote = connection.ops.quote_name
        table = quote(cls._meta.db_table)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        for start in range(0, len(partials), CHECKPOINT_ROWS_PER_STATEMENT):
            rows = partials[start:start + CHECKPOINT_ROWS_PER_STATEMENT]
            # VALUES columns are column1.. in both SQLite (3.33+) and PostgreSQL.
            sql = (f"UPDATE {table} SET {quote('response')} = v.column2, {quote('reasoning')} = v.column3, "
                   f"{quote('seq')} = v.column4, {quote('heartbeat_at')} = %s "
                   f"FROM (VALUES {', '.join(['(%s, %s, %s, %s)'] * len(rows))}) AS v "
                   f"WHERE {table}.{quote('id')} = v.column1 AND {table}.{quote('status')} = %s")
            with connection.cursor() as cursor:
                cursor.execute(sql, [now, *(value for row in rows for value in row), cls.Status.STREAMING])

    def finish(self, *, status, response, upstream_request_id="", **outcome):
        """Record the outcome of the run in one write: the OUTCOME_FIELDS given, the others reset."""
        from chat import budgets

        if unknown := outcome.keys() - set(OUTCOME_FIELDS):
            raise TypeError(f"Not outcome fields: {sorted(unknown)}")
        self.status = status
        self.response = response
        for name in OUTCOME_FIELDS:
            setattr(self, name, outcome[name] if name in outcome else self._meta.get_field(name).get_default())
        self.upstream_request_id = upstream_request_id or self.upstream_request_id
        self.finished = timezone.now()
        with transaction.atomic():
            # Counted once in the usage rollup: an outcome that replaces one already counted (a run that
            # outlived the heartbeat check) takes the earlier one out. The row lock orders the two writers.
            before = Message.objects.select_for_update().only(*usage.MESSAGE_FIELDS).filter(pk=self.pk).first()
            if before is not None and before.status != self.Status.STREAMING:
                usage.record(before, sign=-1)
            self.save()
            usage.record(self)
            if self.reserved is not False:  # the answer's reservations, to what it cost (None: not known here)
                budgets.settle([self.pk])
        Conversation.objects.filter(pk=self.conversation_id).update(updated=self.finished)

    # Set at prompt time (chat.models.turns): False when no budget applied, so the end has nothing to settle.
    reserved: bool | None = None

    def snapshot_frame(self) -> dict:
        return {"type": "snapshot", "message": self.pk, "seq": self.seq, "text": self.response,
                "reasoning": self.reasoning, "status": self.status, "after": 0}

    def done_frame(self) -> dict:
        """The protocol's `done` frame for this message, as saved (v1.1: the optional fields when they apply)."""
        frame = {
            "type": "done",
            "message": self.pk,
            "status": self.status,
            "stop_reason": self.stop_reason,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                      "cache_read_input_tokens": self.cache_read_input_tokens,
                      "cache_write_input_tokens": self.cache_write_input_tokens},
            "metrics": {"ttft_ms": self.ttft_ms, "answer_ms": self.answer_ms, "duration_ms": self.duration_ms,
                        "server_latency_ms": self.server_latency_ms},
        }
        if self.cost is not None:
            frame["cost"] = {"amount": amount_text(self.cost), "currency": self.currency}
        if self.guardrail is not None:
            frame["guardrail"] = self.guardrail
        if self.citations:
            frame["citations"] = self.citations
        if self.invoked_model:
            frame["invoked_model"] = self.invoked_model
        if self.status == self.Status.ERROR:
            frame["error"] = {"code": self.error_code, "detail": self.error_detail}
        return frame

    def context_before(self, char_budget: int, *, earlier: bool = True, files: bool = True) -> list[dict]:
        """Earlier turns of this conversation as alternating user/assistant messages.

        Only complete turns are sent: a stopped or failed answer is partial and would teach the model
        to break off. The oldest turns are dropped first when the budget is exceeded. Reasoning is never
        sent back: Bedrock wants it back unchanged only in turns with tool use, which we have none of, and
        some models (gpt-oss) reject it; it is kept, with its signature, for review only. `earlier` False:
        the conversation is new (no turns to read); `files` False: this turn has no files.
        """
        if not earlier and not files:
            return [user_turn(self.prompt, None)]
        earlier = [] if not earlier else (
            Message.objects.filter(conversation_id=self.conversation_id, status=self.Status.COMPLETE, pk__lt=self.pk)
            .exclude(response="")
            .order_by("-pk")
            .annotate(has_files=Exists(Attachment.objects.filter(message=OuterRef("pk"))))
            .values_list("pk", "prompt", "response", "has_files")
        )
        turns, used, with_files = [], len(self.prompt), [self.pk] if files else []
        for pk, prompt, response, has_files in earlier:
            used += len(prompt) + len(response)
            if used > char_budget:
                break
            turns.append((pk, prompt, response))
            if has_files:
                with_files.append(pk)
        # Each user turn's files (which of them are sent again is the provider's choice: chat.providers.attached).
        files_of = Attachment.objects.by_message(with_files) if with_files else {}
        messages = []
        for pk, prompt, response in reversed(turns):
            messages.append(user_turn(prompt, files_of.get(pk)))
            messages.append({"role": "assistant", "text": response})
        messages.append(user_turn(self.prompt, files_of.get(self.pk)))
        return messages
