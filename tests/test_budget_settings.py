"""The default budget's settings: read as an exact amount and a token count, or unset; a bad value stops the start."""

import os
import subprocess
import sys

import pytest

from tests.servers import PROJECT

SCRIPT = ("import streamer.settings as s; "
          "print(repr(s.DEFAULT_USER_BUDGET_USD_MONTHLY), s.DEFAULT_USER_BUDGET_TOKENS_MONTHLY, sep='|')")


def start_settings(tmp_path, **env):
    return subprocess.run([sys.executable, "-c", SCRIPT], env={"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path)} | env,
                          cwd=PROJECT, capture_output=True, text=True)


def test_no_default_budget_unless_set(tmp_path):
    assert start_settings(tmp_path).stdout.strip() == "None|None"


def test_the_default_budget_is_an_exact_amount_and_a_token_count(tmp_path):
    result = start_settings(tmp_path, DEFAULT_USER_BUDGET_USD_MONTHLY="7.50", DEFAULT_USER_BUDGET_TOKENS_MONTHLY="2000000")
    assert result.stdout.strip() == "Decimal('7.50')|2000000", result.stderr


@pytest.mark.parametrize("value", ["seven", "-1", "NaN", "Infinity"])
def test_a_bad_default_budget_stops_the_start(tmp_path, value):
    result = start_settings(tmp_path, DEFAULT_USER_BUDGET_USD_MONTHLY=value)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and f"DEFAULT_USER_BUDGET_USD_MONTHLY={value!r}" in result.stderr
