"""Log lines never carry credentials, even when an exception message does."""

from __future__ import annotations

import json
import logging
import sys

from graph.http.observability import JsonFormatter, redact


def test_credentials_are_redacted_from_messages_and_tracebacks() -> None:
    secret = "key_demo_alice.0eaece0fd6873ae25027ef3317c50f56"
    try:
        raise RuntimeError(f"mongodb://admin:hunter2@db:27017/caas Bearer {secret}")
    except RuntimeError:
        record = logging.LogRecord(
            "caas.errors", logging.ERROR, __file__, 1, "failed: %s", (secret,), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "hunter2" not in line and "0eaece0fd6873ae2" not in line
    assert entry["msg"] == "failed: key_demo_alice.***"
    assert "mongodb://***@db:27017/caas" in entry["exc"] and "Bearer ***" in entry["exc"]


def test_redaction_leaves_ordinary_text_alone() -> None:
    text = "GET /graphql 200 key_demo_alice http://127.0.0.1:8000/graphql"
    assert redact(text) == text
