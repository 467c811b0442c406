"""What the train stage decides before Keras runs: the held-out split and each try's learning rate.

The split reads the encoded events from disk (:class:`recsys.encoded.EncodedEvents`).
A training set of up to ``train.chunk_rows`` rows is read whole and trains as it
always has. A larger one stays on disk: :class:`Stream` hands it out a chunk of
``chunk_rows`` rows at a time, each chunk drawn from pieces all over the window,
so memory follows the chunk, not the window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from recsys.encoded import Encoded, EncodedEvents

PIECE = 16_384  # rows read at once (512 KiB of indices): the unit a chunk is drawn from
SCAN = 1 << 22  # rows of one column read at a time while the split is found
_NO_DAY = -1  # a day no event has


def held_out_split(day: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Return row indices: ``train`` (every day but the last), ``valid`` and ``test``.

    The last day is held out and shuffled with ``seed``: half of it drives early
    stopping (``valid``), the other half is the test set the report scores.
    """
    last = day == day.max()
    return {"train": np.flatnonzero(~last), **_halves(np.flatnonzero(last), seed)}


def _halves(held_out: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    np.random.default_rng(seed).shuffle(held_out)
    half = len(held_out) // 2
    return {"valid": np.sort(held_out[:half]), "test": np.sort(held_out[half:])}


@dataclass(frozen=True)
class Stream:
    """The training rows of encoded events too many for memory: every day but ``held_out_day``.

    ``counts[i]`` is the number of training rows in piece i (rows ``i * PIECE``
    onwards). :meth:`draw` deals the pieces in a random order and cuts that
    sequence into chunks of ``chunk_rows`` training rows (the last one shorter).
    """

    events: EncodedEvents
    held_out_day: int
    counts: np.ndarray
    chunk_rows: int

    @classmethod
    def whole(cls, events: EncodedEvents, chunk_rows: int) -> Stream:
        """Return every row of ``events`` as training rows (none held out)."""
        counts = np.full(-(-len(events) // PIECE), PIECE, np.int64)
        counts[-1] = len(events) - PIECE * (len(counts) - 1)
        return cls(events, _NO_DAY, counts, chunk_rows)

    def __len__(self) -> int:
        return int(self.counts.sum())

    def chunk_sizes(self) -> list[int]:
        """Return the number of rows of each chunk of an epoch."""
        full, rest = divmod(len(self), self.chunk_rows)
        return [self.chunk_rows] * full + ([rest] if rest else [])

    def draw(self, rng: np.random.Generator) -> Iterator[list[tuple[int, int, int]]]:
        """Yield each chunk, every training row in one, as ``(piece, first, stop)`` spans."""
        order = rng.permutation(len(self.counts))
        ends = np.cumsum(self.counts[order])
        starts = ends - self.counts[order]
        for lo in range(0, len(self), self.chunk_rows):
            hi = min(lo + self.chunk_rows, len(self))
            inside = np.flatnonzero((ends > lo) & (starts < hi))
            yield [
                (int(order[i]), int(max(lo - starts[i], 0)), int(min(hi, ends[i]) - starts[i]))
                for i in inside
            ]

    def read(self, spans: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Return the indices and labels of one chunk's spans (:meth:`draw`)."""
        x, y = [], []
        for piece, first, stop in spans:
            rows = self.events.read(piece * PIECE, (piece + 1) * PIECE)
            kept = rows.take(np.flatnonzero(rows.day != self.held_out_day)[first:stop])
            x.append(kept.x)
            y.append(kept.y)
        return np.concatenate(x), np.concatenate(y)


@dataclass(frozen=True)
class Split:
    """The train stage's data: ``train`` in memory, or a :class:`Stream`; the held-out day's halves."""

    train: tuple[np.ndarray, np.ndarray] | Stream
    valid: Encoded
    test: Encoded
    train_rate: float  # the training labels' mean: the base rate the report compares with
    window: tuple[dt.date, dt.date]

    @property
    def rows(self) -> dict[str, int]:
        """Return the number of rows of each part."""
        train = len(self.train[0]) if isinstance(self.train, tuple) else len(self.train)
        return {"train": train, "valid": len(self.valid), "test": len(self.test)}


def split(events: EncodedEvents, seed: int, chunk_rows: int) -> Split:
    """Return the train stage's data from the encoded events (:func:`held_out_split`).

    Up to ``chunk_rows`` events are read whole; more stay on disk and train as a
    :class:`Stream`: the split is then found a column at a time, and the held-out
    day (a day, not the window) is the only part read into memory.
    """
    if len(events) <= chunk_rows:
        enc = events.read()
        parts = held_out_split(enc.day, seed)
        train = enc.take(parts["train"])
        valid, test = enc.take(parts["valid"]), enc.take(parts["test"])
        rate = float(np.mean(train.y))
        return Split((train.x, train.y), valid, test, rate, window(enc.day))
    first, last = _day_range(events)
    counts = np.zeros(-(-len(events) // PIECE), np.int64)
    held_out, positives = [], 0.0
    for start, day in events.ranges(SCAN):
        keep = day != last
        pieces = np.arange(start, start + len(day)) // PIECE
        counts += np.bincount(pieces[keep], minlength=len(counts))
        positives += float(events.column("y", start, start + len(day))[keep].sum())
        held_out.append(start + np.flatnonzero(~keep))
    halves = _halves(np.concatenate(held_out), seed)
    stream = Stream(events, last, counts, chunk_rows)
    valid, test = events.take(halves["valid"]), events.take(halves["test"])
    rate = positives / max(len(stream), 1)
    return Split(stream, valid, test, rate, (dt.date.fromordinal(first), dt.date.fromordinal(last)))


def _day_range(events: EncodedEvents) -> tuple[int, int]:
    days = [(int(day.min()), int(day.max())) for _, day in events.ranges(SCAN) if len(day)]
    return min(d[0] for d in days), max(d[1] for d in days)


def learning_rate(base_lr: float, lr_decay: float, try_number: int) -> float:
    """Return the learning rate of try ``try_number``: ``base_lr * lr_decay ** (try - 1)``."""
    return base_lr * lr_decay ** (try_number - 1)


def explain_learning_rate(base_lr: float, lr_decay: float, try_number: int) -> str:
    """Return the line a report prints about the try's learning rate."""
    lr = learning_rate(base_lr, lr_decay, try_number)
    return (
        f"try {try_number}: learning rate {lr:g} = base_lr {base_lr:g} * lr_decay "
        f"{lr_decay:g} ** {try_number - 1}"
    )


def window(day: np.ndarray) -> tuple[dt.date, dt.date]:
    """Return the first and last date of the days (ordinals) the events cover."""
    return dt.date.fromordinal(int(day.min())), dt.date.fromordinal(int(day.max()))
