"""Score mode's labels: candidate labels that a model reads and predicts as one token each.

Score mode (LlamaRec) ranks candidates by the log-probability of each candidate's label as the first token
of the answer, so every label must be exactly one token right after the answer prefix (``[`` in ``[A]``).
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterator

from promptrec.errors import BackendError

logger = logging.getLogger(__name__)

#: labels assumed to be one token each where a backend cannot check (every common BPE vocabulary has them)
_UNVERIFIED = list(string.ascii_uppercase + string.ascii_lowercase)


def label_candidates() -> Iterator[str]:
    """Labels in order of preference: ``A``..``Z``, ``a``..``z``, ``AA``..``ZZ``, then ``0``..``999``."""
    yield from string.ascii_uppercase
    yield from string.ascii_lowercase
    yield from (a + b for a in string.ascii_uppercase for b in string.ascii_uppercase)
    yield from (str(number) for number in range(1000))


def _unverified(name: str, n: int) -> list[str]:
    if n > len(_UNVERIFIED):
        raise BackendError(
            f"{name} cannot check which labels are single tokens; score mode there takes at most "
            f"{len(_UNVERIFIED)} candidates, not {n}"
        )
    return _UNVERIFIED[:n]


def single_token_labels(backend: object, n: int, prefix: str = "[") -> list[str]:
    """``n`` distinct labels that ``backend``'s tokenizer reads as one token each right after ``prefix``.

    A backend with ``label_token_ids(labels, prefix)`` (llama.cpp) has every label checked in the context
    of its chat template, and labels that share a token id are skipped. A backend without a tokenizer (an
    OpenAI-compatible API) gets ``A``..``Z`` then ``a``..``z`` unchecked, so at most 52.

    Raises:
        BackendError: when ``n`` labels cannot be found.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    name = getattr(backend, "name", type(backend).__name__)
    check = getattr(backend, "label_token_ids", None)
    chosen: list[str] = []
    seen: set[int] = set()
    candidates = label_candidates()
    while len(chosen) < n:
        batch = [label for _, label in zip(range(max(n - len(chosen), 16)), candidates)]
        if not batch:
            raise BackendError(
                f"only {len(chosen)} labels are single tokens after {prefix!r} for {name}; {n} were asked for"
            )
        tokens = check(batch, prefix) if callable(check) else None
        if tokens is None:  # no tokenizer to check with (BaseBackend's default)
            return _unverified(name, n)
        for label, token in tokens.items():
            if token is not None and token not in seen and len(chosen) < n:
                seen.add(token)
                chosen.append(label)
    logger.debug("%d single-token labels for %s: %s", n, name, " ".join(chosen))
    return chosen
