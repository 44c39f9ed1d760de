"""Every script in examples/ runs as a user would run it (a fresh process, offline) and prints what it says."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

#: script -> lines its output must contain (what the example is there to show)
EXPECTED = {
    "custom_backend.py": ["[C] > [B] > [A]", "['m22', 'm14', 'm12']", "arrow 3"],
    "dataframes.py": ["rank item_id", "user_id  rank item_id", "ann     1"],
    "own_columns.py": ["attributes kept: {'brand': 'Acme', 'category': 'Shoes'}", "1 p2 Running socks 1.0"],
    "readme.py": ["rank item_id", "m4        Aliens", "llm_score"],
}


def test_every_example_is_checked():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script, tmp_path):
    pytest.importorskip("pandas")
    env = {**os.environ, "PROMPTREC_CACHE_DIR": str(tmp_path / "cache"), "PROMPTREC_FEEDBACK_DB": str(tmp_path / "fb.db")}
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    for line in EXPECTED[script]:
        assert line in done.stdout, f"{script} did not print {line!r}:\n{done.stdout}"
    assert not done.stderr.strip(), f"{script} wrote to stderr:\n{done.stderr}"  # no warning, no traceback
