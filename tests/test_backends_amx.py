"""The AMX protection: llama.cpp's AMX kernel crashes, so models load without extra buffer types there.

The simulated CPUs prove the decision on any machine; the real two-token evaluations prove on the CI
machine's own CPU that what promptrec loads does not crash.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.request

import pytest

from promptrec.backends import amx
from promptrec.errors import BackendError

AMX_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8\n"
PLAIN_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n"
CPUS = {"amx": AMX_CPU, "plain": PLAIN_CPU}


@pytest.fixture
def simulated_cpu(tmp_path, monkeypatch):
    """simulated_cpu(text): this process (and the processes it starts) see ``text`` as /proc/cpuinfo."""

    def simulate(text: str) -> None:
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        monkeypatch.setenv(amx.CPUINFO_ENV_VAR, str(path))
        monkeypatch.delenv(amx.ENV_VAR, raising=False)

    return simulate


@pytest.fixture
def restore_llama_defaults(monkeypatch):
    """Undo a process-wide patch of llama.cpp's model defaults at the end of the test."""
    import llama_cpp.llama_cpp as lib

    monkeypatch.setattr(lib, "llama_model_default_params", lib.llama_model_default_params)
    return lib


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(AMX_CPU + "\nprocessor\t: 1\n" + AMX_CPU)
    assert {"amx_tile", "avx2"} <= amx.cpu_flags(path)
    assert amx.cpu_has_amx(amx.cpu_flags(path))
    path.write_text(PLAIN_CPU)
    assert not amx.cpu_has_amx(amx.cpu_flags(path))
    assert amx.cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize(
    "setting, cpu, expected",
    [("auto", "amx", False), ("auto", "plain", True), (None, "amx", False), ("on", "amx", True),
     ("off", "plain", False), (True, "amx", True), (False, "plain", False), ("OFF ", "plain", False)],
)
def test_extra_buffers_are_off_only_where_the_cpu_has_amx_unless_forced(simulated_cpu, setting, cpu, expected):
    simulated_cpu(CPUS[cpu])
    assert amx.use_extra_buffers(setting) is expected


def test_the_environment_variable_forces_either_way(simulated_cpu, monkeypatch):
    simulated_cpu(AMX_CPU)
    monkeypatch.setenv(amx.ENV_VAR, "on")
    assert amx.use_extra_buffers() is True
    simulated_cpu(PLAIN_CPU)
    monkeypatch.setenv(amx.ENV_VAR, "off")
    assert amx.use_extra_buffers() is False
    monkeypatch.setenv(amx.ENV_VAR, "maybe")
    with pytest.raises(BackendError, match="PROMPTREC_LLAMA_EXTRA_BUFFERS='maybe': use one of auto, on, off"):
        amx.use_extra_buffers()


def test_model_params_wraps_the_defaults_only_inside_the_block(restore_llama_defaults):
    lib = restore_llama_defaults
    assert lib.llama_model_default_params().use_extra_bufts is True  # llama.cpp's own default
    with amx.model_params(extra_buffers=False):
        assert lib.llama_model_default_params().use_extra_bufts is False
    assert lib.llama_model_default_params().use_extra_bufts is True


class _StopLoad(Exception):
    pass


def _record_load(monkeypatch) -> list[bool]:
    """Replace llama_cpp.Llama by a recorder of the use_extra_bufts that Llama() would load with."""
    import llama_cpp

    seen: list[bool] = []

    def fake_llama(**_: object) -> None:
        seen.append(llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts)
        raise _StopLoad

    monkeypatch.setattr(llama_cpp, "Llama", fake_llama)
    return seen


@pytest.mark.parametrize("cpu, expected", [("amx", False), ("plain", True)])
def test_the_backend_loads_with_the_decision_for_the_cpu(simulated_cpu, monkeypatch, cpu, expected):
    from promptrec.backends.llamacpp import LlamaCppBackend

    simulated_cpu(CPUS[cpu])
    seen = _record_load(monkeypatch)
    with pytest.raises(_StopLoad):
        LlamaCppBackend()
    assert seen == [expected]


def test_the_server_process_loads_with_the_decision_for_the_cpu(simulated_cpu, monkeypatch, restore_llama_defaults, tmp_path):
    import llama_cpp.server.__main__ as server

    from promptrec.backends import local_server

    seen: list[tuple[bool, list[str]]] = []
    monkeypatch.setattr(
        server, "main", lambda: seen.append((restore_llama_defaults.llama_model_default_params().use_extra_bufts, sys.argv[1:]))
    )
    simulated_cpu(AMX_CPU)
    local_server.main(["--port", "1"])
    assert seen[0][0] is False
    assert seen[0][1][0] == "--model" and seen[0][1][1].endswith(".gguf") and seen[0][1][2:] == ["--port", "1"]
    simulated_cpu(PLAIN_CPU)
    model = tmp_path / "x.gguf"
    model.write_bytes(b"GGUF")
    local_server.main(["--model", str(model)])
    assert seen[1] == (True, ["--model", str(model)])
    with pytest.raises(BackendError, match="model file not found"):
        local_server.main(["--model=missing.gguf"])


@pytest.mark.model
def test_the_real_backend_on_a_simulated_amx_cpu_loads_without_extra_buffers(simulated_cpu):
    from promptrec.backends.llamacpp import LlamaCppBackend

    simulated_cpu(AMX_CPU)
    backend = LlamaCppBackend(n_ctx=512)
    assert backend.extra_buffers is False
    assert backend._llm.model_params.use_extra_bufts is False
    scores = backend.score_labels([{"role": "user", "content": "Pick one: [A] or [B]?"}], ["A", "B"])
    assert set(scores.logprobs) == {"A", "B"} and scores.usage.input_tokens > 2


@pytest.mark.model
def test_a_real_two_token_eval_runs_on_this_cpu():
    """In a child process, so that a native crash is a failed test that names the signal, not a dead run."""
    script = textwrap.dedent(
        """
        import math
        from promptrec.backends.llamacpp import LlamaCppBackend
        backend = LlamaCppBackend(n_ctx=256)
        llm = backend._llm
        llm.eval(llm.tokenize(b"Hello world", add_bos=True))
        assert llm.n_tokens >= 2 and all(math.isfinite(x) for x in llm.scores[llm.n_tokens - 1][:100])
        print("two-token eval ok, extra buffers", backend.extra_buffers)
        """
    )
    result = subprocess.run([sys.executable, "-X", "faulthandler", "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stderr[-3000:]}"
    assert "two-token eval ok" in result.stdout


@pytest.mark.server
def test_serve_gguf_on_a_simulated_amx_cpu_says_extra_buffers_are_off(simulated_cpu, tmp_path):
    from promptrec.backends.local_server import serve_gguf

    simulated_cpu(AMX_CPU)
    log = tmp_path / "server.log"
    with serve_gguf(n_ctx=512, log=log) as base_url:
        with urllib.request.urlopen(f"{base_url}/models", timeout=10) as response:
            assert b"smollm2" in response.read()
    assert "CPU AMX: yes" in log.read_text() and "extra buffer types: off" in log.read_text()


def test_the_cli_shows_where_a_native_crash_happened():
    script = textwrap.dedent(
        """
        import ctypes
        from promptrec import cli

        @cli.main.command()
        def crash():
            ctypes.string_at(0)

        cli.main(["crash"])
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Fatal Python error: Segmentation fault" in result.stderr and "in crash" in result.stderr
