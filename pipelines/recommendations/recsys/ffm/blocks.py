"""The training data ``fit`` iterates: blocks of ``BLOCK`` minibatches, deduplicated once.

:class:`Blocks` holds a training set in memory; :class:`Streamed` deals one from
disk (:class:`recsys.training.Stream`) a chunk at a time, the next chunk read and
deduplicated on a thread while the current one trains: two chunks in memory at
most, whatever the window's size.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from recsys.ffm import sparse

if TYPE_CHECKING:
    from recsys.training import Stream

BLOCK = 32  # minibatches one train step runs through, in one compiled loop


@dataclass(frozen=True)
class Dealt:
    """Minibatches ready for the step: unique rows ``[N, U]``, positions ``[N, B, F]``, labels, weights."""

    rows: np.ndarray
    inverse: np.ndarray
    y: np.ndarray
    weight: np.ndarray

    def block(self, pick: np.ndarray):
        """Return the minibatches ``pick`` as one step's input."""
        return (self.rows[pick], self.inverse[pick]), self.y[pick], self.weight[pick]


def deal(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    n_features: int,
    rng: np.random.Generator,
    block: int,
    width: int = 0,
) -> Dealt:
    """Shuffle the rows with ``rng`` into minibatches, whole blocks of ``block``, deduplicated.

    The rows are padded with rows of weight 0 to whole minibatches, and whole
    blocks are filled with empty minibatches (weight 0, rows past the table), so
    every block has one shape and the step compiles once.
    """
    order = rng.permutation(len(x))
    n = -(-len(x) // batch_size)  # minibatches
    total = -(-n // block) * block * batch_size  # rows, padding included
    ids = np.zeros((total, x.shape[1]), np.int32)
    ids[: len(x)] = x[order]
    labels = np.zeros(total, "float32")
    labels[: len(x)] = y[order]
    weight = np.zeros(total, "float32")
    weight[: len(x)] = 1
    shape = (total // batch_size, batch_size)
    rows, inverse = sparse.dedupe(ids.reshape(*shape, -1), n_features, width)
    rows[n:] = n_features + np.arange(rows.shape[1])  # the filling minibatches: all padding
    return Dealt(rows, inverse, labels.reshape(shape), weight.reshape(shape))


class Blocks(keras.utils.PyDataset):
    """A training set in memory, shuffled once (with ``seed``) and dealt into minibatches.

    Each minibatch keeps its unique table rows and each sample's position in
    them (:func:`sparse.dedupe`: once, not every step), and the minibatches are
    dealt into blocks in a new order every epoch.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, n_features: int, seed: int):
        super().__init__()
        self.rng = np.random.default_rng(seed)
        self.block = min(BLOCK, -(-len(x) // batch_size))
        self.data = deal(x, y, batch_size, n_features, self.rng, self.block)
        self.order = self.rng.permutation(len(self.data.rows))

    def __len__(self) -> int:
        return len(self.order) // self.block

    def __getitem__(self, index: int):
        return self.data.block(self.order[index * self.block : (index + 1) * self.block])

    def on_epoch_end(self) -> None:
        """Deal the minibatches into blocks in a new order."""
        self.order = self.rng.permutation(len(self.order))


class Streamed(keras.utils.PyDataset):
    """A training set on disk, dealt a chunk at a time; read in order (``fit(shuffle=False)``).

    The chunks are drawn once (:meth:`Stream.draw`); the first time a chunk is
    met it is dealt as :class:`Blocks` deals a whole set and spilled to a temporary folder
    under ``spill`` (the system's temporary folder when None; about 1.3 times the chunk's
    feature indices), removed by :meth:`close`; later epochs read the dealt
    chunks back in a new order, each dealt into blocks in a new order, as
    :class:`Blocks` keeps its minibatches and deals them anew. The next chunk
    is prepared on a thread while one trains. Every chunk is widened to the
    widest one's unique rows, so after the first epoch the step has one shape.
    """

    def __init__(
        self, stream: Stream, batch_size: int, n_features: int, seed: int, spill: Path | None = None
    ):
        super().__init__()
        self.stream, self.batch_size, self.n_features = stream, batch_size, n_features
        # one generator for the epochs' orders (this thread), one for dealing (the worker's)
        self.rng, deal_rng = np.random.default_rng(seed).spawn(2)
        self.block = min(BLOCK, -(-stream.chunk_rows // batch_size))
        minibatches = [-(-rows // batch_size) for rows in stream.chunk_sizes()]
        self.blocks = [-(-n // self.block) for n in minibatches]
        self.plan = list(stream.draw(deal_rng))  # chunk c: its spans, dealt the first time it is
        self.deal_rng, self.width = deal_rng, 0  # the widest chunk's unique rows so far
        if spill is not None:
            spill.mkdir(parents=True, exist_ok=True)
        self.spill = tempfile.TemporaryDirectory(prefix="stagebook-chunks-", dir=spill)
        self.dealt: set[int] = set()  # the chunks spilled so far
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="stagebook-chunks")
        # Keras calls on_epoch_end once before the first epoch too (EpochIterator.reset)
        self._begin(list(range(len(self.blocks))))

    def _begin(self, sequence: list[int]) -> None:
        self.sequence, self.index, self.current = sequence, -1, None
        self.first = np.cumsum([0, *(self.blocks[c] for c in sequence)])
        self.next: Future | None = self.pool.submit(self._prepare, sequence[0])

    def _prepare(self, chunk: int) -> tuple[Dealt, np.ndarray]:
        path = Path(self.spill.name) / f"{chunk}.npz"
        if chunk in self.dealt:
            with np.load(path) as saved:
                dealt = _widen(Dealt(**saved), self.width, self.n_features)
        else:
            x, y = self.stream.read(self.plan[chunk])
            dealt = deal(
                x, y, self.batch_size, self.n_features, self.deal_rng, self.block, self.width
            )
            self.width = dealt.rows.shape[1]
            np.savez(path, **vars(dealt))
            self.dealt.add(chunk)
        return dealt, self.deal_rng.permutation(len(dealt.rows))

    def __len__(self) -> int:
        return sum(self.blocks)

    def __getitem__(self, index: int):
        at = int(np.searchsorted(self.first, index, side="right")) - 1
        if at != self.index:
            if at != self.index + 1 or self.next is None:
                raise IndexError(f"block {index} out of order: a stream is read front to back")
            self.current, self.index = self.next.result(), at
            more = at + 1 < len(self.sequence)
            self.next = self.pool.submit(self._prepare, self.sequence[at + 1]) if more else None
        dealt, order = self.current
        start = (index - int(self.first[at])) * self.block
        return dealt.block(order[start : start + self.block])

    def on_epoch_end(self) -> None:
        """Deal the next epoch's chunks, in a new order."""
        self._begin([int(c) for c in self.rng.permutation(len(self.blocks))])

    def close(self) -> None:
        """Remove the spilled chunks."""
        self.pool.shutdown()
        self.spill.cleanup()


def _widen(dealt: Dealt, width: int, n_features: int) -> Dealt:
    """Return ``dealt`` with ``width`` unique rows a minibatch: more padding past the table."""
    if dealt.rows.shape[1] >= width:
        return dealt
    rows = n_features + np.tile(np.arange(width, dtype=np.int32), (len(dealt.rows), 1))
    rows[:, : dealt.rows.shape[1]] = dealt.rows
    return Dealt(rows, dealt.inverse, dealt.y, dealt.weight)
