"""The two PNG plots of a run folder, drawn from runs on the generated fixtures."""

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import TINYCROSS, TINYLENS  # noqa: E402

from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.plots import plot_by_history, plot_by_method  # noqa: E402
from promptrec.evaluation.protocol import ProtocolConfig  # noqa: E402
from promptrec.evaluation.runner import run_dataset  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs():
    config = ProtocolConfig(users=10, valid_users=5)
    return [run_dataset(load_dataset(spec), config) for spec in (f"movielens:{TINYLENS}", f"crossdomain:{TINYCROSS}:books:movies")]


def test_both_plots_are_png_files_at_the_given_paths(runs, tmp_path):
    methods = plot_by_method(runs, tmp_path / "methods.png")
    history = plot_by_history(runs, tmp_path / "history.png")
    assert (methods, history) == (tmp_path / "methods.png", tmp_path / "history.png")
    for path in (methods, history):
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 2000


def test_more_datasets_draw_a_different_picture(runs, tmp_path):
    one = plot_by_method(runs[:1], tmp_path / "one.png").read_bytes()
    two = plot_by_method(runs, tmp_path / "two.png").read_bytes()
    assert one != two
