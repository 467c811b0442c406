"""Field vocabularies of one phase and the encoding of tables into feature indices.

Each field maps its values to consecutive global indices; slot 0 of every field
is its out-of-vocabulary value, so a value unseen in training still scores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import encoded
from recsys.encoded import Encoded
from recsys.paths import File, RecsysPaths
from recsys.tables import Batches
from stagebook import atomic
from stagebook.errors import MissingInputError


@dataclass(frozen=True)
class Vocabulary:
    """Values of every field, in field order, user fields first."""

    user_fields: tuple[str, ...]
    item_fields: tuple[str, ...]
    values: dict[str, list[str]]

    @property
    def fields(self) -> tuple[str, ...]:
        """Return every field, user fields first."""
        return self.user_fields + self.item_fields

    @property
    def sizes(self) -> list[int]:
        """Return each field's number of slots, its out-of-vocabulary slot included."""
        return [len(self.values[f]) + 1 for f in self.fields]

    @property
    def offsets(self) -> np.ndarray:
        """Return each field's first global index."""
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    @property
    def n_features(self) -> int:
        """Return the number of global feature indices."""
        return int(sum(self.sizes))

    def encode(self, frame: pd.DataFrame, fields: tuple[str, ...]) -> np.ndarray:
        """Return the global indices of ``fields`` of each row, as an int32 matrix."""
        offsets = dict(zip(self.fields, self.offsets, strict=True))
        out = np.empty((len(frame), len(fields)), dtype=np.int32)
        for col, field in enumerate(fields):
            index = pd.Index(self.values[field])
            column = frame[field]
            if isinstance(column.dtype, pd.CategoricalDtype):
                # look up each category once, then index by the codes: no string per row
                slots = np.append(index.get_indexer(column.cat.categories.astype(str)) + 1, 0)
                local = slots[column.cat.codes.to_numpy()]  # code -1 (missing) takes slot 0 too
            else:
                local = index.get_indexer(column.astype(str)) + 1  # -1 (unknown) becomes slot 0
            out[:, col] = offsets[field] + local
        return out

    def to_json(self) -> dict:
        """Return the vocabulary as a JSON-ready dict."""
        return {
            "user_fields": self.user_fields,
            "item_fields": self.item_fields,
            "values": self.values,
        }

    @classmethod
    def from_json(cls, value: dict) -> Vocabulary:
        """Rebuild a vocabulary from :meth:`to_json`'s output."""
        return cls(tuple(value["user_fields"]), tuple(value["item_fields"]), value["values"])


def build_vocabulary(
    events: pd.DataFrame | Iterable[pd.DataFrame],
    user_fields: tuple[str, ...],
    item_fields: tuple[str, ...],
    min_count: int,
) -> Vocabulary:
    """Return the values of each field seen at least ``min_count`` times in ``events``.

    ``events`` is one frame or batches of it (:func:`recsys.tables.batches`):
    the values are counted batch by batch.
    """
    fields = user_fields + item_fields
    counts: dict[str, pd.Series] = {f: pd.Series(dtype="int64") for f in fields}
    for frame in [events] if isinstance(events, pd.DataFrame) else events:
        for field in fields:
            counts[field] = counts[field].add(_value_counts(frame[field]), fill_value=0)
    values = {f: sorted(c[c >= min_count].index.tolist()) for f, c in counts.items()}
    return Vocabulary(tuple(user_fields), tuple(item_fields), values)


def _value_counts(column: pd.Series) -> pd.Series:
    """Return how often each value (as text) occurs in ``column``."""
    if isinstance(column.dtype, pd.CategoricalDtype):  # counted per category, not per row
        counts = column.value_counts()
        counts.index = counts.index.astype(str)
        return counts[counts > 0]
    return column.astype(str).value_counts()


def save(vocab: Vocabulary, folder: Path) -> Path:
    """Write the vocabulary into a features or model ``folder`` atomically."""
    return atomic.write_json(File.VOCABULARY.of(folder), vocab.to_json())


def load(folder: Path) -> Vocabulary:
    """Read the vocabulary of a features or model ``folder``, naming it if it is missing."""
    path = File.VOCABULARY.of(folder)
    if not path.exists():
        raise MissingInputError(
            f"vocabulary {path} does not exist: run 10-features for this date and phase first"
        )
    return Vocabulary.from_json(json.loads(path.read_text()))


_EPOCH_ORDINAL = 719_163  # datetime.date(1970, 1, 1).toordinal()


def encode_events(events: pd.DataFrame, vocab: Vocabulary) -> Encoded:
    """Return the events encoded with ``vocab``, their labels and their days."""
    days = pd.to_datetime(events["date"]).to_numpy("datetime64[D]").astype(np.int64)
    day = (days + _EPOCH_ORDINAL).astype(np.int32)  # date.toordinal(), without a call per row
    return Encoded(vocab.encode(events, vocab.fields), events["label"].to_numpy(np.float32), day)


def write(vocab: Vocabulary, events: Batches, paths: RecsysPaths) -> int:
    """Encode ``events`` batch by batch into the date and phase's features folder, replacing it.

    Returns the number of events written. What a batch holds is all the stage
    holds beside the vocabulary: the window's size does not change it.
    """
    with atomic.replacing(paths.features) as folder:
        save(vocab, folder)
        with encoded.Writer(folder, events.rows, len(vocab.fields)) as out:
            for frame in events:
                out.append(encode_events(frame, vocab))
    return events.rows


def read(paths: RecsysPaths) -> tuple[Vocabulary, encoded.EncodedEvents]:
    """Return the vocabulary and the encoded events (on disk, read by row ranges) of a date and phase."""
    return load(paths.features), encoded.EncodedEvents(paths.features)
