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
