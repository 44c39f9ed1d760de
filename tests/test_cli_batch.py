"""``promptrec batch`` (the library's behaviour is in test_batch.py)."""

from click.testing import CliRunner

from promptrec.cli.batch import batch


def test_batch_needs_an_output():
    result = CliRunner().invoke(batch, ["requests.jsonl"])
    assert result.exit_code == 2 and "give -o OUTPUT" in result.output


def test_batch_says_when_the_input_is_missing(tmp_path):
    result = CliRunner().invoke(batch, [str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2 and "is not a file" in result.output
