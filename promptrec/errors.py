"""The one exception hierarchy of promptrec.

Every error a user can cause derives from :class:`PromptrecError`, and its message says what was wrong,
where (file:line, field) and what to do about it.
"""

from __future__ import annotations

from pathlib import Path


class PromptrecError(Exception):
    """Base class of every error promptrec raises on purpose."""


class DataError(PromptrecError):
    """A catalog, history or candidate file (or value) is malformed.

    ``path``, ``line`` and ``field`` locate the problem when it comes from a file.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "")
        if field is not None:
            where = f"{where} field '{field}'" if where else f"field '{field}'"
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message


class OptionError(PromptrecError, ValueError):
    """An option, or a combination of options, is invalid (``option`` names it); checked before anything
    expensive (a model) is loaded. The CLI reports it as a usage error (exit code 2). It is also a
    ``ValueError``, which is what Python callers expect of a bad argument."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        self.option = option
        super().__init__(message)


class ScenarioError(PromptrecError):
    """A scenario is unknown, or its spec or templates are invalid or unsafe."""


class BackendError(PromptrecError):
    """A backend could not be created or failed to answer."""


class UnknownBackendError(BackendError):
    """The ``kind`` in a ``kind:model`` backend string is not registered."""

    def __init__(self, kind: str, known: list[str]) -> None:
        self.kind = kind
        self.known = known
        super().__init__(f"unknown backend kind '{kind}'; known kinds: {', '.join(known)}")


class MissingDependencyError(BackendError):
    """An optional dependency is not installed; the message names the extra that brings it."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"the '{package}' package is needed for this; install it with: pip install 'promptrec[{extra}]'"
        )


class ContextOverflowError(PromptrecError):
    """The prompt does not fit the model's context window even with no history at all."""
