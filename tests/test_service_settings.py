"""The service's settings: database URLs, the API key, limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from promptrec.service.settings import Limits, ServiceSettings, default_db, sqlalchemy_url


def test_db_paths_and_urls_become_sqlalchemy_urls(tmp_path):
    assert sqlalchemy_url(str(tmp_path / "s.db")) == f"sqlite:///{tmp_path / 's.db'}"
    assert sqlalchemy_url("relative.db") == f"sqlite:///{Path('relative.db').resolve()}"
    assert sqlalchemy_url("postgresql://u:p@h:5/db") == "postgresql+psycopg://u:p@h:5/db"
    assert sqlalchemy_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert sqlalchemy_url("sqlite:////x/y.db") == "sqlite:////x/y.db"
    assert ServiceSettings(db=str(tmp_path / "a.db")).url.startswith("sqlite:///")


def test_the_default_database_is_in_the_user_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db() == str(tmp_path / "promptrec" / "service.sqlite3")


def test_without_a_key_a_random_one_is_made_so_writes_are_never_open():
    one, two = ServiceSettings(), ServiceSettings(api_key=None)
    assert one.api_key_generated and two.api_key_generated
    assert len(one.api_key) >= 24 and one.api_key != two.api_key
    given = ServiceSettings(api_key="k1")
    assert given.api_key == "k1" and not given.api_key_generated


@pytest.mark.parametrize("key", ["", "  ", "tab\tkey", "clé"])
def test_keys_that_cannot_travel_in_a_header_are_refused(key):
    with pytest.raises(ValidationError, match="printable ASCII"):
        ServiceSettings(api_key=key)


def test_limits_are_bounded_and_unknown_settings_refused():
    assert Limits().max_n == 100
    with pytest.raises(ValidationError, match="max_n"):
        Limits(max_n=0)
    with pytest.raises(ValidationError, match="dbb"):
        ServiceSettings(dbb="x")
