"""A content-addressed, size-limited disk cache of completions that stores JSON only.

Keys are SHA-256 digests of what determines an answer: backend name and model, the rendered messages, the
generation parameters, the mode and the labels — never an API key. Values are JSON. diskcache's default
storage unpickles whatever the cache folder holds, which lets anyone who can write that folder run code;
:class:`JSONOnlyDisk` refuses pickled keys and values, so such an entry is dropped and recomputed.

The cache sits below parsing: a better parser re-reads cached answers without calling the backend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, TypeVar

import diskcache
from diskcache.core import MODE_PICKLE
from pydantic import BaseModel

from promptrec.backends.base import Completion, GenerationParams, Message

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

#: Bump when the meaning of a cached value changes; older entries then simply stop matching.
CACHE_VERSION = 1
DEFAULT_SIZE_LIMIT = 2**30  # 1 GiB


class UnsafeCacheEntry(Exception):
    """A cache entry that is not JSON (for example a pickle planted in the cache folder)."""


class JSONOnlyDisk(diskcache.Disk):
    """diskcache storage for string keys and JSON values; never unpickles anything."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if not isinstance(key, str):
            raise TypeError("cache keys must be strings")
        return super().put(key)

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise UnsafeCacheEntry("pickled cache key")
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
        if read:
            raise TypeError("file values are not supported")
        data = json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return super().store(data, False, key=key)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode == MODE_PICKLE or read:
            raise UnsafeCacheEntry("pickled cache value")
        data = super().fetch(mode, filename, value, False)
        if isinstance(data, str):
            data = data.encode("utf-8")
        try:
            return json.loads(bytes(data))
        except (ValueError, TypeError) as exc:
            raise UnsafeCacheEntry(f"unreadable cache value: {exc}") from exc


def default_cache_dir() -> Path:
    """``$PROMPTREC_CACHE_DIR``, else the platform's user cache folder (e.g. ``~/.cache/promptrec``)."""
    configured = os.environ.get("PROMPTREC_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("promptrec", appauthor=False))


def completion_key(
    backend_name: str, messages: list[Message], params: GenerationParams, *, mode: str, labels: list[str]
) -> str:
    """The cache key of one backend call (a hex SHA-256 of its canonical JSON description)."""
    description = {
        "version": CACHE_VERSION,
        "backend": backend_name,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "params": params.model_dump(mode="json"),
        "mode": mode,
        "labels": list(labels),
    }
    canonical = json.dumps(description, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class CompletionCache:
    """Completions (and label scores) on disk, keyed by :func:`completion_key`, evicted least-recently-used past ``size_limit``.

    Safe to share between threads and processes (SQLite underneath). A corrupt or unsafe entry is logged,
    deleted and treated as a miss.
    """

    def __init__(self, directory: str | Path | None = None, size_limit: int = DEFAULT_SIZE_LIMIT) -> None:
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._cache = diskcache.Cache(
            str(self.directory),
            disk=JSONOnlyDisk,
            size_limit=size_limit,
            eviction_policy="least-recently-used",
            timeout=60,
        )

    def get(self, key: str, model: type[T] = Completion) -> T | None:  # type: ignore[assignment]
        """The cached value for ``key`` as a ``model`` (a :class:`Completion` by default), or ``None``."""
        try:
            value = self._cache.get(key)
        except UnsafeCacheEntry as exc:
            logger.warning("dropping cache entry %s: %s", key[:12], exc)
            self._cache.delete(key)
            return None
        if value is None:
            return None
        try:
            return model.model_validate(value)
        except ValueError as exc:
            logger.warning("dropping cache entry %s: %s", key[:12], exc)
            self._cache.delete(key)
            return None

    def set(self, key: str, value: BaseModel) -> None:
        """Store ``value`` (a completion, label scores...) under ``key``."""
        self._cache.set(key, value.model_dump(mode="json"))

    def stats(self) -> dict[str, Any]:
        """Where the cache is, how many entries it holds and how many bytes it takes."""
        return {
            "directory": str(self.directory),
            "entries": len(self._cache),
            "bytes": self._cache.volume(),
            "size_limit": self._cache.size_limit,
        }

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        return self._cache.clear()

    def close(self) -> None:
        """Close the underlying database connections."""
        self._cache.close()
