"""N-gram hashing and vocabulary lookup: prediction's one-pass character hashes are training's hashes, and
the numpy hash table answers as a dictionary of the vocabulary would."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.ngrams import HashTable, char_hashes, spans

texts_strategy = st.lists(
    st.text(alphabet=st.sampled_from("ab é€😀\ud800"), min_size=0, max_size=14), min_size=1, max_size=6
)


@settings(max_examples=80, deadline=None)
@given(texts=texts_strategy, low=st.integers(1, 3), extra=st.integers(0, 3))
def test_char_hashes_are_the_hashes_of_every_char_ngram(texts: list[str], low: int, extra: int) -> None:
    ngram_range = (low, low + extra)
    row, _, _, hashes = spans(texts, "char", ngram_range)
    fast_row, fast_hashes = char_hashes(texts, ngram_range)
    assert Counter(zip(fast_row.tolist(), fast_hashes.tolist(), strict=True)) == Counter(
        zip(row.tolist(), hashes.tolist(), strict=True)
    )


hashes_strategy = st.lists(
    st.integers(0, 2**64 - 1) | st.integers(0, 5), min_size=0, max_size=300, unique=True
)


@settings(max_examples=80, deadline=None)
@given(vocabulary=hashes_strategy, others=hashes_strategy)
def test_hash_table_finds_each_vocabulary_hash_and_nothing_else(
    vocabulary: list[int], others: list[int]
) -> None:
    vocab = np.array(sorted(vocabulary), dtype=np.uint64)
    table = HashTable.build(vocab)
    queries = np.array([*vocabulary, *others, table.sentinel], dtype=np.uint64)
    expected = {value: column for column, value in enumerate(vocab.tolist())}
    assert table.lookup(queries).tolist() == [expected.get(value, -1) for value in queries.tolist()]
    assert table.sentinel not in expected
    assert len(table.keys) >= 4 * len(vocab)  # at most a quarter full: misses stop at the first probes
