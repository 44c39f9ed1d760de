"""What promptrec writes out is safe to write: no secrets, no NaN, no terminal escape sequences.

- **Secrets.** An API key may reach promptrec by ``--api-key``, ``-O api_key=``, ``$OPENAI_API_KEY`` or as
  credentials in a base URL (``http://user:pass@host/v1``); a server may echo the ``Authorization`` header
  back in an error. :func:`register_secret` records such values (the backends and the configuration do it
  as they see them) and :func:`redact` replaces every registered value, every URL's ``user:pass@`` and every
  ``Bearer``/``Basic`` credential with ``***``, in text or in nested JSON-like data. Reports, results files,
  ``rank --json``, batch lines, ``config show``, log records (:func:`install_log_redaction`) and error
  messages go through it.
- **NaN.** :func:`json_safe` turns NaN and infinities into ``null`` (with the secrets redacted), and
  :func:`dumps` writes JSON that always parses (``allow_nan=False`` is then guaranteed to hold).
- **Terminals.** :func:`terminal_text` neutralises escape sequences and control characters in text bound for
  a table on a terminal (JSON output keeps the text verbatim).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import unicodedata
from collections.abc import Mapping
from typing import Any

#: what a secret is replaced with
MASK = "***"
#: registered values shorter than this are not redacted (a one-letter "key" would mask every such letter)
_MIN_SECRET = 6

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

#: ``scheme://user:pass@`` or ``scheme://token@`` in a URL
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@'\"<>]+)@")
#: an ``Authorization`` credential as it appears in echoed headers or reprs
_AUTH = re.compile(r"(?P<kind>\bBearer\s+)[A-Za-z0-9._~+/=-]{6,}")
#: ``"api_key": "..."``, ``api_key=...``, ``'x-api-key': '...'`` (a key echoed back under its own name)
_NAMED = re.compile(r"(?P<name>\b(?:api[_-]?key|x-api-key|authorization)['\"]?\s*[:=]\s*['\"]?)"
                    r"(?P<value>[^'\"\s,}&]{4,})", re.IGNORECASE)


#: loggers of the HTTP clients that log request URLs (with their credentials) and options
_CLIENT_LOGGERS = ("httpx", "httpx2", "openai", "openai._base_client", "openai._response")


def register_secret(value: str | None) -> None:
    """Redact ``value`` (an API key, a password) wherever promptrec writes from now on in this process
    (the HTTP clients' own loggers get a :class:`RedactingFilter` too)."""
    global _pattern
    if not value or not isinstance(value, str) or len(value) < _MIN_SECRET or value == MASK:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))
    for name in _CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def register_url(url: str | None) -> None:
    """Register the credentials of a URL (``user:pass@``), if it has any."""
    if not url:
        return
    for match in _URL_CREDENTIALS.finditer(url):
        userinfo = match.group("userinfo")
        user, _, password = userinfo.partition(":")
        register_secret(password or user)
        register_secret(userinfo)


def redact_text(text: str) -> str:
    """``text`` with every secret replaced by ``***``: registered values, URL credentials, bearer tokens and
    values named ``api_key``/``authorization``/``password``."""
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _AUTH.sub(lambda m: f"{m.group('kind')}{MASK}", text)
    return _NAMED.sub(lambda m: m.group("name") + (m.group("value") if m.group("value") == MASK else MASK), text)


def redact(value: Any) -> Any:
    """``value`` (text, or nested dicts, lists and tuples of it) with every secret redacted."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {redact(key) if isinstance(key, str) else key: redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


#: command-line options whose value is a secret
_SECRET_FLAGS = ("--api-key",)
_SECRET_OPTION = re.compile(r"^(?P<name>(?:api_key|password|token)\s*=)", re.IGNORECASE)


def redact_argv(argv: list[str]) -> list[str]:
    """A command line with its secrets masked, for a report to record: the value of ``--api-key`` (also as
    ``--api-key=...``), of ``-O api_key=...``, and whatever :func:`redact_text` masks (URL credentials...)."""
    masked: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            masked.append(MASK)
            hide_next = False
            continue
        flag, equals, _ = arg.partition("=")
        if flag in _SECRET_FLAGS:
            if equals:
                masked.append(f"{flag}={MASK}")
            else:
                masked.append(arg)
                hide_next = True
            continue
        match = _SECRET_OPTION.match(arg)
        masked.append(match.group("name") + MASK if match else redact_text(arg))
    return masked


def json_safe(value: Any) -> Any:
    """``value`` ready for JSON: NaN and infinities become ``None`` and secrets are redacted, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {redact_text(key) if isinstance(key, str) else key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`json_safe` ``(value)``: valid JSON (no NaN) with no secret in it."""
    kwargs.setdefault("ensure_ascii", False)
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from every record's message (and its exception text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's to report, not ours
            return True
        redacted = redact_text(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add a :class:`RedactingFilter` to every handler of ``logger`` (the root logger by default) that has
    none yet, so no log line carries a secret."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


#: CSI/OSC/other escape sequences (ESC [ ... final byte, ESC ] ... BEL or ST, ESC + one char)
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]|\x9b[0-?]*[ -/]*[@-~]")


def terminal_text(text: str) -> str:
    """``text`` safe to print in a table on a terminal: escape sequences removed, and every other control or
    format character (``\\r``, backspace, bidi overrides, a newline) shown as its ``\\x..``/``\\u....`` escape."""
    text = _ESCAPES.sub("", text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else _escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    code = ord(ch)
    if unicodedata.category(ch) == "Zs":
        return " "
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
