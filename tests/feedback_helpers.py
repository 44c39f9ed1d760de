"""Shared by test_feedback.py and test_feedback_store.py: a few items and a Python subprocess."""

from __future__ import annotations

import subprocess
import sys

from promptrec.data import Item

ALIEN = Item(id="m03", title="Alien")
UP = Item(id="m12", title="Up")
HEAT = Item(id="m09", title="Heat")
MATRIX = Item(id="m01", title="The Matrix")
CANDIDATES = [Item(id="m14", title="Inception"), Item(id="m22", title="Interstellar"), Item(id="m15", title="The Notebook")]


def python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=True)
