"""The harness's run (promptrec.evaluation.run); the command's end-to-end runs are in test_cli_eval.py."""

from promptrec.evaluation.run import PROTOCOL_CHOICES, _llm_factories


def test_the_command_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, promptrec.cli.eval, promptrec.evaluation.run, promptrec.evaluation; "
            "print(sorted(m for m in ('ir_measures', 'bm25s', 'matplotlib', 'llama_cpp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_llm_configuration_makes_no_factories():
    assert _llm_factories({"no_llm": False, "configs": []}, []) == ([], [], [])
    assert "full" in PROTOCOL_CHOICES
