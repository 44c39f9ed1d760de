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
