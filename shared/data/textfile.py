"""Plain and gzip-compressed CSV files: opening them for pyarrow, and finding the exact line when
pyarrow's fast parser rejects one.

The fast path never walks lines in Python. Only after a failure does `find_bad_line` rescan the
file with the csv module, to name the line and column instead of echoing a parser message.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
Kind = Literal["int", "float", "str"]


_NUMPY_TYPES = {
    pa.float32(): np.float32,
    pa.float64(): np.float64,
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
}


def to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric arrow array as a numpy view of its buffer, nulls as NaN.

    pyarrow's own to_numpy goes through its pandas shim even for zero-copy: importing pandas
    costs 0.3 s and ~150 MB of resident memory for what is a buffer view.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count:
        array = pc.fill_null(array.cast(pa.float64()), float("nan"))
    dtype = np.dtype(_NUMPY_TYPES[array.type])
    if len(array) == 0:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(
        array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
    )


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def open_arrow_stream(path: Path) -> pa.NativeFile:
    raw = pa.OSFile(str(path))
    return pa.CompressedInputStream(raw, "gzip") if is_gzip(path) else raw


class RowsToBytes:
    """Progress in bytes of the file from rows parsed so far.

    The parser's read position runs far ahead of the rows it has converted (it reads ahead), so
    progress is estimated from rows instead: bytes per line sampled from the first MiB, total
    bytes from the file size (or, for gzip, the uncompressed size in its trailer).
    """

    SAMPLE = 1 << 20

    def __init__(self, path: Path) -> None:
        self.size = path.stat().st_size
        self.rows_total: float | None = None
        try:
            with open_text(path) as fh:
                sample = fh.read(self.SAMPLE)
            lines = sample.count("\n")
            total = self.size
            if is_gzip(path):
                with open(path, "rb") as raw:
                    raw.seek(-4, 2)
                    total = int.from_bytes(raw.read(4), "little")  # ISIZE, mod 2**32
            if lines:
                self.rows_total = total / (len(sample.encode()) / lines)
        except (DataError, OSError):
            self.rows_total = None  # progress stays at 0 until the file is done

    def __call__(self, rows: int) -> int:
        if not self.rows_total:
            return 0
        return int(self.size * min(0.99, rows / self.rows_total))


@contextmanager
def open_text(path: Path) -> Iterator[io.TextIOBase]:
    """Text lines of a plain or gzip file; a truncated or corrupt archive becomes a DataError."""
    if is_gzip(path):
        fh: io.TextIOBase = gzip.open(  # type: ignore[assignment]  # noqa: SIM115
            path, "rt", newline="", encoding="utf-8", errors="replace"
        )
    else:
        fh = open(path, newline="", encoding="utf-8", errors="replace")  # noqa: SIM115
    try:
        with fh:
            yield fh
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"truncated or corrupt gzip file ({exc})", file=str(path)) from exc
    except csv.Error as exc:
        raise DataError(f"unreadable CSV ({exc})", file=str(path)) from exc


def first_line(path: Path) -> str:
    """The first line of the (decompressed) file, without its line ending."""
    with open_text(path) as fh:
        return fh.readline().rstrip("\r\n")


def split_header(line: str) -> list[str]:
    return [name.strip().strip('"').strip() for name in line.lstrip("\ufeff").split(",")]


def line_of_data_row(path: Path, *, skip_lines: int, row: int) -> int:
    """1-based line number of the `row`-th (0-based) non-blank data line after `skip_lines`
    lines: the row numbering pyarrow uses, which skips blank lines."""
    with open_text(path) as fh:
        reader = csv.reader(fh)
        seen = -1
        for fields in reader:
            if reader.line_num <= skip_lines:
                continue
            if not fields:
                continue
            seen += 1
            if seen == row:
                return reader.line_num
    return skip_lines + row + 1


def _bad_field(value: str, kind: Kind) -> str | None:
    text = value.strip()
    if kind == "str":
        return None
    if not text:
        return "empty value where a number is expected"
    try:
        int(text) if kind == "int" else float(text)
    except ValueError:
        what = "an integer" if kind == "int" else "a number"
        return f"{text[:40]!r} is not {what}"
    return None


def find_bad_line(
    path: Path,
    *,
    skip_lines: int,
    names: Sequence[str],
    kinds: Sequence[Kind],
    start_row: int = 0,
) -> DataError | None:
    """Rescan from data row `start_row` for the first line with a wrong field count or a value
    that does not parse; return the error naming it (None if every line is fine)."""
    with open_text(path) as fh:
        reader = csv.reader(fh)
        seen = -1
        for fields in reader:
            if reader.line_num <= skip_lines or not fields:
                continue
            seen += 1
            if seen < start_row:
                continue
            if len(fields) != len(names):
                return DataError(
                    f"expected {len(names)} fields, got {len(fields)}",
                    file=str(path),
                    row=reader.line_num,
                )
            for value, name, kind in zip(fields, names, kinds, strict=True):
                problem = _bad_field(value, kind)
                if problem:
                    return DataError(problem, file=str(path), row=reader.line_num, column=name)
    return None


def arrow_failure(path: Path, exc: Exception, *, located: DataError | None) -> DataError:
    """The DataError to raise for a pyarrow read failure: the located line if the rescan found
    one, otherwise pyarrow's own first message line."""
    if located is not None:
        return located
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "compressed" in text.lower() or "gzip" in text.lower() or "inflate" in text.lower():
        return DataError(f"truncated or corrupt gzip file ({text})", file=str(path))
    return DataError(f"cannot parse: {text}", file=str(path))
