"""The command line's progress bar and spinner: on stderr, shown only on a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def progress_bar(*extra_columns: Any, description: str = "{task.description}") -> Any:
    """A rich ``Progress`` with description, bar, done/total, any ``extra_columns``, elapsed time and ETA."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    return Progress(
        TextColumn(description), BarColumn(), MofNCompleteColumn(), *extra_columns, TimeElapsedColumn(),
        TimeRemainingColumn(), console=console, disable=not console.is_terminal,
    )


@contextmanager
def spinner(message: str, console: Any = None) -> Iterator[None]:
    """A rich spinner with ``message`` on stderr while the block runs (a model loading, an LLM call, an index
    being built); shown only on a terminal, so piped output and logs stay clean."""
    from rich.console import Console

    console = console if console is not None else Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with console.status(message, spinner="dots"):
        yield
