"""The exception hierarchy: what each error says and where (file:line, field), and what it derives from."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptrec.errors import (
    BackendError,
    ContextOverflowError,
    DataError,
    MissingDependencyError,
    OptionError,
    PromptrecError,
    ScenarioError,
    UnknownBackendError,
)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({}, "bad value"),
        ({"path": Path("data/items.jsonl")}, "data/items.jsonl: bad value"),
        ({"path": "items.csv", "line": 7}, "items.csv:7: bad value"),
        ({"path": "items.csv", "line": 7, "field": "title"}, "items.csv:7 field 'title': bad value"),
        ({"field": "rating"}, "field 'rating': bad value"),
        ({"line": 3}, "bad value"),  # a line without a file locates nothing
    ],
)
def test_data_errors_say_where(kwargs, text):
    error = DataError("bad value", **kwargs)
    assert str(error) == text and error.reason == "bad value"
    assert error.line == kwargs.get("line") and error.field == kwargs.get("field")
    assert error.path == (str(kwargs["path"]) if "path" in kwargs else None)


def test_every_error_is_a_promptrec_error_and_option_errors_are_value_errors():
    for kind in (DataError, OptionError, ScenarioError, BackendError, ContextOverflowError):
        assert issubclass(kind, PromptrecError)
    assert issubclass(UnknownBackendError, BackendError) and issubclass(MissingDependencyError, BackendError)
    error = OptionError("--window needs --mode score", option="--window")
    assert isinstance(error, ValueError) and error.option == "--window" and str(error) == "--window needs --mode score"
    with pytest.raises(ValueError):
        raise error


def test_backend_errors_name_the_kinds_and_the_extra():
    unknown = UnknownBackendError("claude", ["llamacpp", "openai"])
    assert str(unknown) == "unknown backend kind 'claude'; known kinds: llamacpp, openai"
    assert (unknown.kind, unknown.known) == ("claude", ["llamacpp", "openai"])
    missing = MissingDependencyError("bm25s", "eval")
    assert str(missing) == "the 'bm25s' package is needed for this; install it with: pip install 'promptrec[eval]'"
    assert (missing.package, missing.extra) == ("bm25s", "eval")
