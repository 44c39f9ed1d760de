"""Reading the published files line by line, so that every error names the file, the line and the field."""

from __future__ import annotations

import csv
import gzip
import html
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from promptrec.data import csv_rows
from promptrec.errors import DataError

csv.field_size_limit(2**31 - 1)  # Amazon descriptions can be long


def default_data_dir() -> Path:
    """``$PROMPTREC_DATA``, else ``../shared/datasets`` beside the project root (where tests and CI find it)."""
    configured = os.environ.get("PROMPTREC_DATA")
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def clean_text(value: str) -> str:
    """HTML entities unescaped (``&amp;`` -> ``&``, also when double-escaped) and whitespace collapsed."""
    text = value
    for _ in range(2):  # some Amazon titles are escaped twice (&amp;amp;)
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    return " ".join(text.split())


def _open_text(path: Path) -> IO[str]:
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
        return path.open("r", encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror}", path=path) from None


def csv_records(path: Path, required: tuple[str, ...], delimiter: str = ",") -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for every non-blank row of a CSV/TSV file (``.gz`` too) with the ``required`` columns
    (:func:`promptrec.data.csv_rows`, the one CSV reader)."""
    return csv_rows(path, tuple((name,) for name in required), delimiter=delimiter)


def tsv_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, tab-separated fields) for every non-blank line of a text file (RecBole atomic files)."""
    with _open_text(path) as handle:
        try:
            for number, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield number, line.split("\t")
        except UnicodeDecodeError as exc:
            raise DataError(f"not valid UTF-8 ({exc.reason})", path=path) from None


def legacy_lines(path: Path) -> tuple[list[tuple[int, str]], str]:
    """(line number, text) for every non-blank line of an old GroupLens file (``u.item``, ``movies.dat``...),
    and the encoding it was read in: UTF-8 where the whole file is valid UTF-8, else ISO-8859-1 (Latin-1),
    which those files use."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror}", path=path) from None
    try:
        text, encoding = raw.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        text, encoding = raw.decode("latin-1"), "ISO-8859-1"
    lines = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    return lines, encoding


def number(value: str, path: Path, line: int, field: str) -> float:
    """``value`` as a finite float, or a :class:`DataError` at ``path:line`` naming ``field`` (NaN and infinities
    are refused: no rating or time is either)."""
    try:
        result = float(value)
    except ValueError:
        raise DataError(f"not a number: {value!r}", path=path, line=line, field=field) from None
    if not math.isfinite(result):
        raise DataError(f"not a finite number: {value!r}", path=path, line=line, field=field)
    return result


def required_text(value: str | None, path: Path, line: int, field: str) -> str:
    """``value`` stripped; a :class:`DataError` when it is empty."""
    text = (value or "").strip()
    if not text:
        raise DataError("empty value", path=path, line=line, field=field)
    return text
