"""promptrec serve-model / serve_gguf: the arguments handed to llama-cpp-python's server, missing model files, a
server that does not start."""

import socket
import sys

import pytest

from promptrec.backends import local_server
from promptrec.errors import BackendError


def test_free_port_is_a_port_that_can_be_bound():
    port = local_server.free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.parametrize("args", [["--model", "/nowhere/absent.gguf"], ["--model=/nowhere/absent.gguf", "--port", "1"]])
def test_a_missing_model_file_is_named_before_the_server_loads(args):
    with pytest.raises(BackendError, match="model file not found: /nowhere/absent.gguf"):
        local_server.main(args)


@pytest.fixture
def captured_server(monkeypatch):
    """Replaces llama-cpp-python's server and the process-wide AMX switch; records the argv it would run."""
    pytest.importorskip("llama_cpp.server.__main__", reason="needs llama-cpp-python[server]")
    import llama_cpp.server.__main__ as server

    from promptrec.backends import amx

    seen = {}
    monkeypatch.setattr(sys, "argv", ["promptrec-serve"])
    monkeypatch.setattr(amx, "apply_to_process", lambda: seen.setdefault("amx", True))
    monkeypatch.setattr(server, "main", lambda: seen.setdefault("argv", list(sys.argv)))
    return seen


def test_the_bundled_model_is_the_default_and_the_amx_switch_is_applied_first(captured_server):
    from promptrec.backends.llamacpp import bundled_model_path

    local_server.main(["--port", "8765", "--model_alias", "smollm2"])
    assert captured_server["amx"] is True
    assert captured_server["argv"] == ["promptrec-serve", "--model", str(bundled_model_path()), "--port", "8765",
                                       "--model_alias", "smollm2"]


def test_a_given_model_is_passed_on_unchanged(captured_server, tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    local_server.main([f"--model={model}", "--n_ctx", "512"])
    assert captured_server["argv"] == ["promptrec-serve", f"--model={model}", "--n_ctx", "512"]


@pytest.mark.server
def test_a_server_that_exits_is_an_error_with_the_end_of_its_log(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    log = tmp_path / "server.log"
    with pytest.raises(BackendError, match="llama_cpp.server did not start"):
        with local_server.serve_gguf(broken, log=log, timeout=120):
            pytest.fail("a broken model file must not serve")
    assert log.stat().st_size > 0


# ---------------------------------------------------------------------------------------- hardening (issue 27)

#: (name, what --model points at): each a BackendError naming the file, before llama.cpp sees it
NOT_MODELS = [
    ("a text file", lambda tmp: ((tmp / "m.gguf").write_text("hello\n" * 50), tmp / "m.gguf")[1], "not a GGUF"),
    ("an empty file", lambda tmp: ((tmp / "m.gguf").write_bytes(b""), tmp / "m.gguf")[1], "not a GGUF"),
    ("a PNG", lambda tmp: ((tmp / "m.gguf").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100)), tmp / "m.gguf")[1], "not a GGUF"),
    ("a folder", lambda tmp: tmp, "not found"),
    ("missing", lambda tmp: tmp / "nope.gguf", "not found"),
]


@pytest.mark.parametrize(("name", "make", "words"), NOT_MODELS, ids=[case[0] for case in NOT_MODELS])
def test_a_file_that_is_not_a_model_is_refused_before_the_server_loads(tmp_path, name, make, words):
    path = make(tmp_path)
    with pytest.raises(BackendError, match=words) as info:
        local_server.main(["--model", str(path)])
    assert str(path) in str(info.value)
    local_server.check_model_file(((tmp_path / "ok.gguf").write_bytes(b"GGUF\x03\x00\x00\x00"), tmp_path / "ok.gguf")[1])
