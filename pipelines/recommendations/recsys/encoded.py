"""The encoded events of a features folder on disk, written and read a chunk at a time.

Three ``.npy`` files side by side: ``x`` (``[rows, fields]`` int32 feature
indices), ``y`` (float32 labels) and ``day`` (int32 date ordinals). The
features stage appends to them batch by batch (:class:`Writer`); the train
stage reads row ranges with plain reads (:class:`EncodedEvents`), not a memory
map, so what it holds is what it asked for, whatever the window's size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.paths import File
from stagebook.errors import MissingInputError

_FILES = {"x": File.EVENTS_X, "y": File.EVENTS_Y, "day": File.EVENTS_DAY}
_DTYPES = {"x": np.dtype(np.int32), "y": np.dtype(np.float32), "day": np.dtype(np.int32)}


@dataclass(frozen=True)
class Encoded:
    """Encoded events: feature indices ``x``, labels ``y`` and each row's day (an ordinal)."""

    x: np.ndarray
    y: np.ndarray
    day: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def take(self, rows: np.ndarray) -> Encoded:
        """Return the events at ``rows``."""
        return Encoded(self.x[rows], self.y[rows], self.day[rows])


class Writer:
    """Append encoded events to a features ``folder``'s files, ``rows`` in all, known in advance."""

    def __init__(self, folder: Path, rows: int, fields: int) -> None:
        self.rows, self.written = rows, 0
        self.files = {}
        for name, file in _FILES.items():
            shape = (rows, fields) if name == "x" else (rows,)
            out = file.of(folder).open("wb")
            header = {"descr": _DTYPES[name].str, "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(out, header)
            self.files[name] = out

    def append(self, encoded: Encoded) -> None:
        """Write the next rows."""
        for name, out in self.files.items():
            np.ascontiguousarray(getattr(encoded, name), _DTYPES[name]).tofile(out)
        self.written += len(encoded)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *failed: object) -> None:
        for out in self.files.values():
            out.close()
        if failed[0] is None and self.written != self.rows:
            raise ValueError(f"encoded {self.written} events where the table has {self.rows}")


class EncodedEvents:
    """The encoded events of a features folder, read by row ranges."""

    def __init__(self, folder: Path) -> None:
        self.offsets, shapes = {}, {}
        for name, file in _FILES.items():
            path = file.of(folder)
            if not path.exists():
                raise MissingInputError(
                    f"encoded events {path} do not exist: run 10-features for this date and "
                    "phase first"
                )
            with path.open("rb") as f:
                np.lib.format.read_magic(f)
                shapes[name], _, _ = np.lib.format.read_array_header_1_0(f)
                self.offsets[name] = (path, f.tell())
        self.rows, self.fields = shapes["x"]

    def __len__(self) -> int:
        return self.rows

    def column(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Return rows ``start:stop`` of one column (``x``, ``y`` or ``day``)."""
        stop = self.rows if stop is None else min(stop, self.rows)
        path, offset = self.offsets[name]
        dtype, width = _DTYPES[name], self.fields if name == "x" else 1
        count = max(stop - start, 0) * width
        values = np.fromfile(path, dtype, count, offset=offset + start * width * dtype.itemsize)
        return values.reshape(-1, self.fields) if name == "x" else values

    def read(self, start: int = 0, stop: int | None = None) -> Encoded:
        """Return rows ``start:stop``."""
        return Encoded(*(self.column(name, start, stop) for name in _FILES))

    def ranges(self, size: int, name: str = "day") -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, column[start:start + size])`` over every row."""
        for start in range(0, self.rows, size):
            yield start, self.column(name, start, start + size)

    def take(self, rows: np.ndarray, size: int = 1 << 20) -> Encoded:
        """Return the events at the sorted indices ``rows``, reading ``size`` rows at a time."""
        empty = np.zeros(0, np.int32)
        parts = [Encoded(np.zeros((0, self.fields), np.int32), np.zeros(0, np.float32), empty)]
        if len(rows):
            for start in range(int(rows[0]), int(rows[-1]) + 1, size):
                inside = rows[(rows >= start) & (rows < start + size)] - start
                parts.append(self.read(start, start + size).take(inside))
        return Encoded(*(np.concatenate([getattr(p, n) for p in parts]) for n in _FILES))
