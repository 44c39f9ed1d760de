"""Names a package exports but loads on first use (PEP 562), so importing the package stays light."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, lazy: Mapping[str, str],
                 exported: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: a name in ``lazy`` (name -> module) is imported from
    its module on first use and kept in the package; ``dir()`` lists ``exported`` (its ``__all__``).

    >>> __getattr__, __dir__ = lazy_exports(__name__, {"Recommender": "promptrec.pipeline"}, __all__)
    """

    def __getattr__(name: str) -> Any:
        if name not in lazy:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(importlib.import_module(lazy[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(exported)

    return __getattr__, __dir__
