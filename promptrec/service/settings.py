"""What a recommendation service runs with: its database, its catalog, its key, its limits, its pipeline.

:class:`ServiceSettings` is the one object :func:`promptrec.service.create_app` takes; ``promptrec serve``
builds it from its options. Everything is checked here, before a database is opened or a model loads.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from promptrec.config import PipelineConfig

#: The header that carries the API key.
API_KEY_HEADER = "X-API-Key"


class Limits(BaseModel):
    """Bounds on what one request may ask; past them the answer is 413 (body) or 422 (the rest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest request body, in bytes (413 beyond)")
    max_n: int = Field(100, ge=1, description="most recommendations (or similar items, search results) per answer")
    max_batch: int = Field(1000, ge=1, description="most items or feedback records in one POST")
    max_history: int = Field(1000, ge=1, description="most history items or feedback records in POST /recommendations")
    max_query_chars: int = Field(1000, ge=1, description="longest free-text query or search")


def sqlalchemy_url(db: str) -> str:
    """The SQLAlchemy URL for ``--db``: a path becomes ``sqlite:///PATH``; ``postgresql://...`` gets the
    psycopg 3 driver (``postgresql+psycopg://...``); any other URL (``sqlite:///...``) is kept."""
    if db.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def default_db() -> str:
    """``service.sqlite3`` in the platform's user data folder (e.g. ``~/.local/share/promptrec``)."""
    import platformdirs

    return str(Path(platformdirs.user_data_dir("promptrec", appauthor=False)) / "service.sqlite3")


class ServiceSettings(BaseModel):
    """The service's settings (see the module docstring).

    Args:
        db: a SQLite file path (the default, in WAL mode) or a database URL (``postgresql://user@host/db``).
        catalog: a catalog file (``.jsonl``/``.csv``) or ``demo``, whose items are added on start-up where
            the database does not have them yet (the database's copy wins: change items with POST /items).
        interactions: a histories file (``user_id,item_id[,timestamp][,rating]`` rows or ``.jsonl``) whose
            interactions are added on start-up, once (re-adding the same pairs changes nothing).
        api_key: the key writes need in the ``X-API-Key`` header; ``None`` makes a random one (logged on
            start-up), so writes are never open by accident.
        private: reads need the key too (by default a read may omit it; a wrong key is refused either way).
        cors_origins: origins allowed by CORS; empty (the default) turns CORS off.
        gorse_feedback: Gorse FeedbackType -> promptrec feedback label for the Gorse API under /api/, over
            its defaults (star/like liked, dislike disliked, read clicked; docs/gorse.md).
        config: the pipeline's configuration; the same object ``promptrec rank`` builds from.
        limits: see :class:`Limits`.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    db: str = Field(default_factory=default_db)
    catalog: str | None = None
    interactions: str | None = None
    api_key: str = Field(default_factory=lambda: secrets.token_urlsafe(24))
    api_key_generated: bool = False
    private: bool = False
    cors_origins: list[str] = Field(default_factory=list)
    gorse_feedback: dict[str, str] = Field(default_factory=dict)
    config: PipelineConfig = Field(default_factory=PipelineConfig)
    limits: Limits = Limits()

    def __init__(self, **data: Any) -> None:
        if data.get("api_key") is None:
            data.pop("api_key", None)
            data["api_key_generated"] = True
        super().__init__(**data)

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not value.strip() or not value.isprintable() or not value.isascii():
            raise ValueError("the API key must be printable ASCII text (it travels in an HTTP header)")
        return value

    @field_validator("gorse_feedback")
    @classmethod
    def _feedback_types(cls, value: dict[str, str]) -> dict[str, str]:
        from promptrec.feedback_store import LABELS

        for name, label in value.items():
            if not name.strip() or name != name.strip() or label not in LABELS:
                raise ValueError(f"'{name}={label}': a FeedbackType (a name) maps to one of {', '.join(LABELS)}")
        return value

    @property
    def url(self) -> str:
        """The database's SQLAlchemy URL."""
        return sqlalchemy_url(self.db)


__all__ = ["API_KEY_HEADER", "Limits", "ServiceSettings", "default_db", "sqlalchemy_url"]
