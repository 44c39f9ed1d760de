"""``promptrec feedback export`` / ``import`` (promptrec.cli.feedback_files) and the --db / --config options
every feedback command takes."""

from click.testing import CliRunner

from promptrec.cli.feedback import feedback_group
from promptrec.cli.feedback_files import export, import_


def test_export_then_import_into_another_store_named_by_a_config_file(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMPTREC_FEEDBACK_DB", raising=False)
    runner = CliRunner()
    first, second = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    added = runner.invoke(feedback_group, ["add", "--db", str(first), "--user", "u1", "--item", "m03",
                                           "--catalog", "demo", "--label", "liked"])
    assert added.exit_code == 0, added.output
    out = tmp_path / "u1.jsonl"
    exported = runner.invoke(export, [str(out), "--db", str(first)])
    assert exported.exit_code == 0 and "exported 1 records" in exported.output
    config = tmp_path / "run.toml"
    config.write_text(f'[feedback]\ndb = "{second}"\n')
    for expected in ("imported 1 records", "imported 0 records"):  # twice: the second finds it present
        imported = runner.invoke(import_, [str(out), "--config", str(config)])
        assert imported.exit_code == 0 and expected in imported.output, imported.output
    listed = runner.invoke(feedback_group, ["list", "--db", str(second), "--json"])
    assert '"item_id":"m03"' in listed.output
