"""Shared CLI helpers: ids, catalogs, one-line errors, and configurations from options."""

import click
import pytest

from promptrec.cli.common import demo_catalog_path, load_catalog, split_ids, usage_or_failure
from promptrec.errors import DataError, OptionError


def test_split_ids_takes_commas_and_repeats():
    assert split_ids(("a,b", " c ", ",,d")) == ["a", "b", "c", "d"]


def test_the_demo_catalog_loads_by_name():
    assert demo_catalog_path().is_file()
    catalog = load_catalog("demo")
    assert catalog is not None and "m01" in catalog
    assert load_catalog(None) is None


@pytest.mark.parametrize("error, kind", [(OptionError("bad"), click.UsageError), (DataError("bad"), click.ClickException)])
def test_library_errors_become_one_line_click_errors(error, kind):
    converted = usage_or_failure(error)
    assert type(converted) is kind and converted.message == "bad"


def test_each_configuration_option_is_declared_once_in_the_pydantic_sections():
    from promptrec.cli.options import command_fields
    from promptrec.cli.rank import rank
    from promptrec.config import PipelineConfig

    checked = 0
    fields = command_fields(rank)
    for param in rank.params:
        if param.name not in fields:
            continue
        section, name = fields[param.name]
        model = PipelineConfig.model_fields[section].annotation if section else PipelineConfig
        description = model.model_fields[name].description
        assert description and param.help.lower().startswith(description[:40].lower()), param.name
        assert param.default is None  # the file and the environment stay in force unless the option is given
        checked += 1
    assert checked >= 25


def test_file_then_environment_then_command_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from promptrec.cli import main

    config = tmp_path / "run.toml"
    config.write_text('[ranker]\nmode = "score"\nseed = 7\n[retrieval]\npool = 11\n', encoding="utf-8")
    monkeypatch.setenv("PROMPTREC_RETRIEVAL_POOL", "30")
    monkeypatch.setenv("PROMPTREC_RANKER_SEED", "8")
    result = CliRunner().invoke(main, ["config", "show", "--config", str(config), "--seed", "9"])
    assert result.exit_code == 0, result.output
    assert 'mode = "score"' in result.output and "pool = 30" in result.output and "seed = 9" in result.output
    monkeypatch.setenv("PROMPTREC_RETRIEVAL_POOL", "zero")
    bad = CliRunner().invoke(main, ["config", "show"])
    assert bad.exit_code == 2 and "environment" in bad.output and "retrieval.pool" in bad.output


def test_an_option_name_sets_the_field_its_own_command_declares():
    from click.testing import CliRunner

    from promptrec.cli import main
    from promptrec.cli.options import command_fields
    from promptrec.cli.serve import serve

    assert "workers" not in command_fields(serve) or command_fields(serve)["workers"][0] != "batch"
    shown = CliRunner().invoke(main, ["config", "show", "serve", "--catalog", "demo", "--workers", "3"]).output
    assert "workers = 8" in shown  # serve's --workers (service processes) is not batch.workers
    shown = CliRunner().invoke(main, ["config", "show", "batch", "in.jsonl", "--workers", "3"]).output
    assert "workers = 3" in shown
