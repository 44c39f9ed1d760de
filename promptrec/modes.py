"""Deprecated: the ranking modes live in :mod:`promptrec.llm` (one module each); this module re-exports them
and will be removed in a later release."""

from __future__ import annotations

from promptrec.llm import MODE_CLASSES, GenerateMode, PointwiseMode, RankingMode, Render, ScoreMode, get_mode

__all__ = ["MODE_CLASSES", "GenerateMode", "PointwiseMode", "RankingMode", "Render", "ScoreMode", "get_mode"]
