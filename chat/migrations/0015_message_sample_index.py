"""A covering index over one message in SAMPLE_EVERY (by id), for the dashboard's percentiles over long
ranges (chat/dashboard/aggregates.py): a year's percentiles read ~5 % of the rows from a small index
instead of sorting every row in the range. Raw SQL: Django's Index cannot state `id % 20 = 0` without its
MOD() function, which on SQLite is a Python callback (slow, and missing outside Django)."""

from django.db import migrations

SAMPLE_EVERY = 20  # chat.dashboard.aggregates.SAMPLE_EVERY: the query must state the same predicate
COLUMNS = ("model_key", "user_id", "ttft_ms", "output_tokens", "duration_ms", "id")  # id: for sparser samples


def create(apps, schema_editor):
    quote = schema_editor.connection.ops.quote_name
    table = quote(apps.get_model("chat", "Message")._meta.db_table)
    if schema_editor.connection.vendor == "postgresql":
        columns = f"({quote('created')}) INCLUDE ({', '.join(quote(c) for c in COLUMNS)})"
    else:
        columns = f"({', '.join(quote(c) for c in ('created', *COLUMNS))})"
    schema_editor.execute(f"CREATE INDEX {quote('message_sample_idx')} ON {table} {columns} "
                          f"WHERE {quote('id')} %% {SAMPLE_EVERY} = 0", params=())


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX {schema_editor.connection.ops.quote_name('message_sample_idx')}")


class Migration(migrations.Migration):

    dependencies = [
        ("chat", "0014_usage_month"),
    ]

    operations = [migrations.RunPython(create, drop)]
