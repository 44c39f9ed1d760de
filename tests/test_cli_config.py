"""``promptrec config show`` and ``promptrec backends``."""

from click.testing import CliRunner

from promptrec.cli.config import backends_command, config_group


def test_config_show_prints_the_options_given():
    result = CliRunner().invoke(config_group, ["show", "--mode", "score", "--pool", "30"])
    assert result.exit_code == 0
    assert 'mode = "score"' in result.output and "pool = 30" in result.output


def test_backends_lists_the_built_in_kinds():
    result = CliRunner().invoke(backends_command)
    assert result.exit_code == 0 and "llamacpp" in result.output and "openai" in result.output


def _leaf_commands(group, path=()):
    import click

    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def test_every_command_that_reads_a_setting_takes_config():
    from promptrec.cli import main

    # backends and model fetch read no setting; serve-model hands its arguments to llama_cpp.server (--config_file)
    nothing_to_configure = {"backends", "model fetch", "serve-model"}
    commands = dict(_leaf_commands(main))
    assert nothing_to_configure <= set(commands)
    lacking = [name for name, command in commands.items()
               if name not in nothing_to_configure and not any("--config" in p.opts for p in command.params)]
    assert lacking == []


def test_config_show_prints_the_configuration_of_any_command_line():
    from promptrec.cli import main

    def show(*args):
        result = CliRunner().invoke(main, ["config", "show", *args])
        assert result.exit_code == 0, result.output
        return result.output

    batch = show("batch", "in.jsonl", "-o", "out.jsonl", "--mode", "score", "--workers", "4")
    assert 'mode = "score"' in batch
    assert 'mode = "pointwise"' in show("eval", "-d", "movielens", "--mode", "pointwise", "--no-llm")
    assert 'db = "/tmp/f.sqlite3"' in show("feedback", "list", "--db", "/tmp/f.sqlite3")
    served = show("serve", "--catalog", "demo", "--llm-weight", "0.2")
    assert 'scenario = "movies"' in served and "llm_weight = 0.2" in served
    assert 'mode = "generate"' in show("rank", "--catalog", "demo")  # a default stays the default
    for bad, words in ((["nope"], "no such command: nope"), (["feedback"], "'promptrec feedback' needs a command"),
                       (["batch", "in.jsonl", "--bogus"], "No such option '--bogus'")):
        result = CliRunner().invoke(main, ["config", "show", *bad])
        assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output


def test_config_files_reach_cache_feedback_scenarios_and_index(tmp_path, monkeypatch):
    from promptrec.cli import main

    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "env-cache"))
    monkeypatch.delenv("PROMPTREC_FEEDBACK_DB", raising=False)  # (the suite's own store would beat the file)
    config = tmp_path / "run.toml"
    config.write_text(f'scenario = "books"\n[cache]\ndir = "{tmp_path / "c"}"\n[feedback]\ndb = "{tmp_path / "f.db"}"\n'
                      '[ranker]\nstrategy = "recency"\n[retrieval]\nretriever = "bm25"\n')
    runner = CliRunner()
    stats = runner.invoke(main, ["cache", "stats", "--config", str(config)])
    assert stats.exit_code == 0 and str(tmp_path / "env-cache") in stats.output  # the environment beats the file
    monkeypatch.delenv("PROMPTREC_CACHE_DIR")
    stats = runner.invoke(main, ["cache", "stats", "--config", str(config)])
    assert stats.exit_code == 0 and str(tmp_path / "c") in stats.output
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "env-cache"))
    added = runner.invoke(main, ["feedback", "add", "--config", str(config), "--user", "u1", "--item", "m03",
                                 "--catalog", "demo", "--label", "liked"])
    assert added.exit_code == 0 and "(books)" in added.output and str(tmp_path / "f.db") in added.output
    shown = runner.invoke(main, ["scenarios", "show", "movies", "--config", str(config)])
    assert shown.exit_code == 0 and "most recent" in shown.output
    built = runner.invoke(main, ["index", "build", "--catalog", "demo", "--config", str(config)])
    assert built.exit_code == 0 and built.output.startswith("bm25 index of 24 items")
    missing = runner.invoke(main, ["cache", "stats", "--config", str(tmp_path / "none.toml")])
    assert missing.exit_code == 2 and "cannot read configuration" in missing.output


def test_eval_reads_its_protocol_from_the_eval_section_and_the_command_line_beats_it(tmp_path):
    from promptrec.cli import main

    config = tmp_path / "eval.toml"
    config.write_text('[eval]\ndatasets = ["games"]\nusers = 12\nprotocol = ["full"]\n[ranker]\nmode = "score"\n')
    runner = CliRunner()
    shown = runner.invoke(main, ["config", "show", "eval", "--config", str(config)]).output
    assert 'datasets = ["games"]' in shown and "users = 12" in shown and 'mode = "score"' in shown
    shown = runner.invoke(main, ["config", "show", "eval", "--config", str(config), "-n", "30", "-d", "movielens"]).output
    assert "users = 30" in shown and 'datasets = ["movielens"]' in shown and 'protocol = ["full"]' in shown
    config.write_text('[eval]\nusers = 0\n')
    bad = runner.invoke(main, ["eval", "--config", str(config)])
    assert bad.exit_code == 2 and "eval.users" in bad.output and "Traceback" not in bad.output
