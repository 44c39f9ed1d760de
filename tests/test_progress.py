"""The command line's progress bar: on stderr, hidden unless stderr is a terminal, with the given columns."""

from __future__ import annotations

from rich.progress import MofNCompleteColumn, TextColumn

from promptrec.progress import progress_bar


def test_off_a_terminal_the_bar_is_disabled_and_writes_nothing(capsys):
    progress = progress_bar()
    assert progress.disable and progress.console.stderr
    with progress:
        task = progress.add_task("ranking", total=3)
        progress.update(task, completed=3)
    assert progress.tasks[0].completed == 3 and progress.tasks[0].finished
    captured = capsys.readouterr()
    assert captured.out == "" and "ranking" not in captured.err


def test_columns_description_bar_count_extras_and_times():
    extra = TextColumn("{task.fields[rate]}")
    progress = progress_bar(extra, description="[bold]{task.description}")
    columns = progress.columns
    assert isinstance(columns[0], TextColumn) and columns[0].text_format == "[bold]{task.description}"
    assert isinstance(columns[2], MofNCompleteColumn) and columns[3] is extra and len(columns) == 6


def test_the_spinner_shows_its_message_on_a_terminal_and_nothing_elsewhere(capsys):
    import io

    from rich.console import Console

    from promptrec.progress import spinner

    screen = io.StringIO()
    with spinner("asking the LLM", console=Console(file=screen, force_terminal=True, width=60)):
        pass
    assert "asking the LLM" in screen.getvalue()
    piped = io.StringIO()
    with spinner("asking the LLM", console=Console(file=piped, force_terminal=False)):
        pass
    assert piped.getvalue() == ""
    with spinner("building the index"):  # the real stderr of a test run is no terminal
        pass
    assert capsys.readouterr().err == ""
