"""Hashed word and character n-grams of whole batches of texts, their vocabulary lookup and TF-IDF rows.

Shared by training (`miner.classify.NgramVectorizer`) and prediction (`miner.predict.Predictor`), with numpy
and scipy.sparse only. The hash of an n-gram is the sum of code point * P**i mod 2**64 over its code points:
with P odd it has an inverse mod 2**64, which turns prefix sums into the hash of any substring, and a 64-bit
hash makes collisions in a vocabulary negligible. scikit-learn's analyzers run a Python loop per n-gram and
cap character n-grams near 5,000 posts/s; this runs at well over 50,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

HASH_BASE = 0x100000001B3
_HASH_INVERSE = pow(HASH_BASE, -1, 2**64)
_SPACE = ord(" ")
# Vocabulary lookup: open addressing with linear probing in a table at most this full; a miss then costs
# ~1.4 probes on average, and the char table of a 100,000-n-gram vocabulary takes 6 MB.
MAX_LOAD = 0.25
# Fibonacci hashing: the polynomial hash's low bits follow the code points' low bits, so the slot is taken
# from the high bits of hash * 2**64 / golden ratio, which mixes all of them.
_SLOT_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def _powers(base: int, n: int) -> np.ndarray:
    """base**0 .. base**(n-1) mod 2**64 (numpy's unsigned arithmetic wraps)."""
    out = np.full(n, base, dtype=np.uint64)
    out[:1] = 1
    return np.cumprod(out)


def _code_points(padded: str) -> np.ndarray:
    """The code points of a string as uint64 (lone surrogates included, as Python sees them)."""
    return np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)


def _char_spans(lengths: np.ndarray, ngram_range: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(start, stop) positions of every substring of n code points inside one text, per n."""
    text_end = np.repeat(np.cumsum(lengths), lengths)
    position = np.arange(len(text_end))
    spans = []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        start = position[position + n <= text_end]
        spans.append((start, start + n))
    return spans


def _word_spans(
    codes: np.ndarray, doc: np.ndarray, ngram_range: tuple[int, int]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(start, stop) positions of every run of n space-separated tokens inside one text, per n."""
    space = codes == _SPACE
    token_start = np.flatnonzero(space[:-1] & ~space[1:]) + 1
    token_stop = np.flatnonzero(~space[:-1] & space[1:]) + 1
    token_doc = doc[token_start]
    spans = []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        first = np.flatnonzero(token_doc[: len(token_doc) - n + 1] == token_doc[n - 1 :])
        spans.append((token_start[first], token_stop[first + n - 1]))
    return spans


def spans(texts: Sequence[str], analyzer: str, ngram_range: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Every n-gram of every text as (row, start, stop, hash) arrays; positions index the concatenation of
    the texts, each padded with a space on both sides so that word edges are marked.

    "char": all substrings of n code points; "word": runs of n space-separated tokens (lemmas come
    space-joined).
    """
    padded = [f" {text} " for text in texts]
    lengths = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    codes = _code_points("".join(padded))
    prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
    np.cumsum(codes * _powers(HASH_BASE, len(codes)), out=prefix[1:])
    doc = np.repeat(np.arange(len(padded)), lengths)
    found = _char_spans(lengths, ngram_range) if analyzer == "char" else _word_spans(codes, doc, ngram_range)
    start = np.concatenate([s for s, _ in found])
    stop = np.concatenate([e for _, e in found])
    return doc[start], start, stop, (prefix[stop] - prefix[start]) * _powers(_HASH_INVERSE, len(codes))[start]


def char_hashes(texts: Sequence[str], ngram_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(row, hash) of every character n-gram, the hashes `spans(texts, "char", ...)` gives, in another order.

    Prediction's path: the n-grams of length n are hashed from those of length n - 1 over contiguous slices
    of the whole batch (h_n[i] = h_(n-1)[i] + code[i + n - 1] * P**(n-1)), with no positions to gather; the
    n-grams that would run past their text's padding are dropped at the end.
    """
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 2
    codes = _code_points(" " + "  ".join(texts) + " ")  # each text padded with a space on both sides
    row = np.repeat(np.arange(len(texts)), lengths)
    room = np.repeat(np.cumsum(lengths), lengths) - np.arange(len(codes))  # code points left in the text
    rows, hashes = [], []
    current = codes
    for n in range(2, ngram_range[1] + 1):
        current = current[:-1] + codes[n - 1 :] * np.uint64(pow(HASH_BASE, n - 1, 2**64))
        if n >= ngram_range[0]:
            keep = room[: len(current)] >= n
            rows.append(row[: len(current)][keep])
            hashes.append(current[keep])
    if ngram_range[0] <= 1:
        rows.insert(0, row)
        hashes.insert(0, codes)
    return np.concatenate(rows), np.concatenate(hashes)


@dataclass(frozen=True)
class HashTable:
    """A vocabulary of n-gram hashes -> column numbers, looked up for a whole batch at once.

    Open addressing with linear probing over numpy arrays: each probe is one gather for every hash still
    unresolved, and nearly all resolve at the first. `sentinel` marks empty slots: a value the vocabulary
    does not hold.
    """

    keys: np.ndarray
    columns: np.ndarray
    sentinel: int

    @classmethod
    def build(cls, vocabulary: np.ndarray) -> HashTable:
        """The table of a sorted vocabulary of unique hashes; column i is vocabulary[i]."""
        size = 1 << max(4, int(np.ceil(np.log2(max(1, len(vocabulary)) / MAX_LOAD))))
        sentinel = _absent_value(vocabulary)
        keys = np.full(size, sentinel, dtype=np.uint64)
        columns = np.full(size, -1, dtype=np.int32)
        probe = _slots(vocabulary, size)
        pending = np.arange(len(vocabulary))
        while len(pending):
            free = columns[probe[pending]] < 0
            _, first = np.unique(probe[pending[free]], return_index=True)  # one key per free slot
            placed = pending[free][first]
            keys[probe[placed]] = vocabulary[placed]
            columns[probe[placed]] = placed
            pending = np.setdiff1d(pending, placed, assume_unique=True)
            probe[pending] = (probe[pending] + 1) & (size - 1)
        return cls(keys, columns, int(sentinel))

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """The column of each hash, -1 for those not in the vocabulary."""
        mask = len(self.keys) - 1
        slot = _slots(hashes, len(self.keys))
        found = self.keys[slot]
        columns = self.columns[slot]
        todo = np.flatnonzero((found != hashes) & (found != self.sentinel))
        while len(todo):
            slot[todo] = (slot[todo] + 1) & mask
            found = self.keys[slot[todo]]
            columns[todo] = self.columns[slot[todo]]
            todo = todo[(found != hashes[todo]) & (found != self.sentinel)]
        return columns


def _slots(hashes: np.ndarray, size: int) -> np.ndarray:
    """Home slot of each hash in a table of `size` (a power of two) slots."""
    shift = np.uint64(64 - (size.bit_length() - 1))
    return ((hashes * _SLOT_MULTIPLIER) >> shift).astype(np.int64)


def _absent_value(sorted_hashes: np.ndarray) -> np.uint64:
    """The smallest uint64 not in a sorted array of unique values (0 unless the array holds 0)."""
    gaps = np.flatnonzero(sorted_hashes != np.arange(len(sorted_hashes), dtype=np.uint64))
    return np.uint64(gaps[0] if len(gaps) else len(sorted_hashes))


def l2_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each row to unit length in place (empty rows and empty matrices stay as they are)."""
    row = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    norms = np.sqrt(np.bincount(row, weights=matrix.data * matrix.data, minlength=matrix.shape[0]))
    matrix.data /= norms[row].astype(matrix.data.dtype)
    return matrix


def count_matrix(row: np.ndarray, column: np.ndarray, n_rows: int, n_columns: int) -> sp.csr_matrix:
    """Rows x columns float32 counts of (row, column) pairs, one pair per n-gram occurrence: scipy's own
    construction (columns sorted within each row, duplicates summed)."""
    data = np.ones(len(column), dtype=np.float32)
    return sp.csr_matrix((data, (row, column)), shape=(n_rows, n_columns))


def tfidf_rows(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf (1 + log count) times idf, rows scaled to unit length, from an n-gram count matrix;
    float32 throughout, so training and prediction compute the very same numbers."""
    counts.data = (1 + np.log(counts.data)) * idf[counts.indices]
    return l2_rows(counts)
