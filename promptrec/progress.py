"""The one progress bar of the command line: on stderr, shown only on a terminal."""

from __future__ import annotations

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
