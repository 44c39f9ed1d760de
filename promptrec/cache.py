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
import sqlite3
from pathlib import Path
from typing import Any, TypeVar

import diskcache
from diskcache.core import MODE_PICKLE
from pydantic import BaseModel

from promptrec.backends.base import Completion, GenerationParams, Message
from promptrec.errors import PromptrecError

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


class CacheError(PromptrecError):
    """The cache folder cannot be used (a file, read-only, full, not a cache); ``cache stats``/``clear`` say so."""


class CompletionCache:
    """Completions (and label scores) on disk, keyed by :func:`completion_key`, evicted least-recently-used past ``size_limit``.

    Safe to share between threads and processes (SQLite underneath). A corrupt or unsafe entry is logged,
    deleted and treated as a miss. A cache that cannot be used at all (its folder is a file, read-only or
    full, its database corrupt) is never a reason to stop a run: a warning says why, and every lookup is
    then a miss and nothing is stored (:attr:`usable` turns ``False``).
    """

    def __init__(self, directory: str | Path | None = None, size_limit: int = DEFAULT_SIZE_LIMIT) -> None:
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()
        self.size_limit = size_limit
        self._cache: diskcache.Cache | None = None
        #: why the cache is switched off (``None`` while it works)
        self.problem: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._cache = diskcache.Cache(
                str(self.directory),
                disk=JSONOnlyDisk,
                size_limit=size_limit,
                eviction_policy="least-recently-used",
                timeout=60,
            )
        except (OSError, sqlite3.Error) as exc:
            self._disable(exc)

    @property
    def usable(self) -> bool:
        """Whether the cache works (``False`` after a fault switched it off for this run)."""
        return self._cache is not None

    def _disable(self, exc: BaseException) -> None:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        self.problem = f"{self.directory}: {reason}"
        logger.warning("the completion cache %s cannot be used (%s); going on without it", self.directory, reason)
        cache, self._cache = self._cache, None
        if cache is not None:
            try:
                cache.close()
            except Exception:  # noqa: BLE001 - closing a broken cache must not hide the first problem
                pass

    def get(self, key: str, model: type[T] = Completion) -> T | None:  # type: ignore[assignment]
        """The cached value for ``key`` as a ``model`` (a :class:`Completion` by default), or ``None``."""
        if self._cache is None:
            return None
        try:
            value = self._cache.get(key)
        except UnsafeCacheEntry as exc:
            logger.warning("dropping cache entry %s: %s", key[:12], exc)
            self._delete(key)
            return None
        except (OSError, sqlite3.Error) as exc:
            self._disable(exc)
            return None
        if value is None:
            return None
        try:
            return model.model_validate(value)
        except ValueError as exc:
            logger.warning("dropping cache entry %s: %s", key[:12], exc)
            self._delete(key)
            return None

    def _delete(self, key: str) -> None:
        if self._cache is None:
            return
        try:
            self._cache.delete(key)
        except (OSError, sqlite3.Error) as exc:
            self._disable(exc)

    def set(self, key: str, value: BaseModel) -> None:
        """Store ``value`` (a completion, label scores...) under ``key``."""
        if self._cache is None:
            return
        try:
            self._cache.set(key, value.model_dump(mode="json"))
        except (OSError, sqlite3.Error) as exc:
            self._disable(exc)

    def _required(self) -> diskcache.Cache:
        if self._cache is None:
            raise CacheError(f"the cache cannot be used: {self.problem}")
        return self._cache

    def stats(self) -> dict[str, Any]:
        """Where the cache is, how many entries it holds and how many bytes it takes (a
        :class:`CacheError` when it cannot be used)."""
        cache = self._required()
        try:
            return {
                "directory": str(self.directory),
                "entries": len(cache),
                "bytes": cache.volume(),
                "size_limit": cache.size_limit,
            }
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"the cache cannot be used: {self.directory}: {exc}") from None

    def clear(self) -> int:
        """Remove every entry; returns how many there were (a :class:`CacheError` when it cannot be used)."""
        cache = self._required()
        try:
            return int(cache.clear())
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"the cache cannot be cleared: {self.directory}: {exc}") from None

    def close(self) -> None:
        """Close the underlying database connections."""
        if self._cache is not None:
            self._cache.close()
