"""``promptrec cache``."""

from click.testing import CliRunner

from promptrec.cache import CompletionCache
from promptrec.cli.cache import cache


def test_stats_and_clear(tmp_path):
    from promptrec.backends import Completion

    CompletionCache(tmp_path).set("k", Completion(text="x", model="m"))
    result = CliRunner().invoke(cache, ["stats", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0 and str(tmp_path) in result.output and "entries    1" in result.output
    result = CliRunner().invoke(cache, ["clear", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0 and result.output.strip() == "removed 1 entries"


# ---------------------------------------------------------------------------------------- hardening (issue 27)


def test_stats_and_clear_of_an_unusable_cache_are_one_line(tmp_path, monkeypatch):
    from promptrec.cli import main

    folder = tmp_path / "c"
    folder.write_text("a file, not a folder")
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(folder))  # (--cache-dir FILE is refused by the option itself)
    for command in ("stats", "clear"):
        result = CliRunner().invoke(main, ["cache", command])
        assert result.exit_code == 1 and "cannot be used" in result.output and "Traceback" not in result.output
