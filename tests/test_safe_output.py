"""What promptrec writes is safe: secrets redacted, no NaN in JSON, no escape sequences in tables."""

import json
import logging
import math

import pytest

from promptrec.safe_output import (
    MASK,
    RedactingFilter,
    dumps,
    install_log_redaction,
    json_safe,
    redact,
    redact_argv,
    redact_text,
    register_secret,
    register_url,
    terminal_text,
)

KEY = "sk-test-REGISTERED-27x9q"
register_secret(KEY)

#: (name, text, what must not survive, what must survive)
SECRETS = [
    ("a registered key anywhere", f"error: bad key {KEY}!", KEY, "error: bad key"),
    ("a key in JSON", json.dumps({"api_key": KEY}), KEY, "api_key"),
    ("URL credentials", "openai:m@http://alice:s3cr3t-pw@host:8000/v1", "s3cr3t-pw", "host:8000/v1"),
    ("URL token only", "https://tok3n-abcdef@host/v1", "tok3n-abcdef", "https://"),
    ("an echoed bearer header", "Authorization: Bearer sk-unregistered-777777", "sk-unregistered-777777", "Authorization"),
    ("an api_key= pair", "request failed (api_key=abc123456)", "abc123456", "request failed"),
    ("x-api-key header", "{'x-api-key': 'zzzz-1234-yyyy'}", "zzzz-1234-yyyy", "x-api-key"),
]


@pytest.mark.parametrize(("name", "text", "gone", "kept"), SECRETS, ids=[case[0] for case in SECRETS])
def test_secrets_are_redacted(name, text, gone, kept):
    redacted = redact_text(text)
    assert gone not in redacted and kept in redacted and MASK in redacted


#: ordinary text that looks a little like a secret stays as it is
HARMLESS = ["Basic Instinct (1992)", "Password: Swordfish", "The Bearer", "e-mail me at bob@example.com",
            "Star Wars: Episode IV", "abc"]


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_titles_are_left_alone(text):
    assert redact_text(text) == text


def test_registered_url_credentials_are_redacted_even_alone():
    register_url("http://carol:pa55-w0rd-99@proxy.local/v1")
    assert "pa55-w0rd-99" not in redact_text("the password was pa55-w0rd-99")
    register_secret("short")  # too short to redact safely: ignored
    assert redact_text("a short story") == "a short story"


def test_nested_data_is_redacted_and_nan_becomes_null():
    data = {"backend": f"openai:m@http://u:{KEY}@h/v1", "scores": [1.0, math.nan, -math.inf], "n": 3,
            KEY: {"deep": [KEY]}}
    safe = json_safe(data)
    text = json.dumps(safe, allow_nan=False)
    assert KEY not in text and safe["scores"] == [1.0, None, None] and safe["n"] == 3
    assert redact(data)["scores"][0] == 1.0 and KEY not in json.dumps(redact(data), default=str)
    assert json.loads(dumps({"x": math.nan, "title": "Amélie"})) == {"x": None, "title": "Amélie"}
    assert "Amélie" in dumps({"title": "Amélie"})  # not escaped to \u00e9


def test_log_records_are_redacted(caplog):
    handler = logging.StreamHandler()
    logger = logging.getLogger("promptrec.test_safe_output")
    logger.addHandler(handler)
    install_log_redaction(logger)
    install_log_redaction(logger)  # idempotent
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "key %s in %s", (KEY, "http://a:b-c-d-e-f@h"), None)
    assert handler.filters[0].filter(record)
    assert KEY not in record.getMessage() and "b-c-d-e-f" not in record.getMessage()
    try:
        raise RuntimeError(f"failed with {KEY}")
    except RuntimeError:
        import sys

        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    handler.filters[0].filter(failing)
    assert KEY not in failing.exc_text
    logger.removeHandler(handler)


#: (name, text, what the table shows)
TERMINAL = [
    ("plain", "Alien (1979)", "Alien (1979)"),
    ("unicode", "Amélie — 東京", "Amélie — 東京"),
    ("colour", "\x1b[31mRed\x1b[0m", "Red"),
    ("clear screen", "A\x1b[2JB", "AB"),
    ("window title (OSC, BEL)", "x\x1b]0;pwned\x07y", "xy"),
    ("window title (OSC, ST)", "x\x1b]0;pwned\x1b\\y", "xy"),
    ("carriage return", "safe\rEVIL", "safe\\x0dEVIL"),
    ("backspace", "ab\x08c", "ab\\x08c"),
    ("newline", "one\ntwo", "one\\x0atwo"),
    ("bidi override", "abc\u202edef", "abc\\u202edef"),
    ("C1 CSI", "a\x9b31mb", "ab"),
    ("lone escape", "a\x1bb", "a\\x1bb"),
]


@pytest.mark.parametrize(("name", "text", "shown"), TERMINAL, ids=[case[0] for case in TERMINAL])
def test_terminal_text_neutralises_escapes(name, text, shown):
    result = terminal_text(text)
    assert result == shown
    assert all(ch.isprintable() for ch in result)


def test_command_lines_are_recorded_without_their_secrets():
    argv = ["promptrec", "eval", "--api-key", "plain-unregistered-1", "--api-key=plain-unregistered-2", "-O",
            "api_key=plain-unregistered-3", "--base-url", "http://u:plain-unregistered-4@h/v1", "-n", "4"]
    masked = " ".join(redact_argv(argv))
    assert "plain-unregistered" not in masked
    assert masked == ("promptrec eval --api-key *** --api-key=*** -O api_key=*** --base-url http://***@h/v1 -n 4")
