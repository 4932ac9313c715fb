"""Language identification for posts: "fr", "en" or "other".

py3langid's naive-Bayes model (it ships inside the package, nothing to download) scores each post over
French, English and a few languages that really turn up in our streams; a function-word vote and a small
English prior settle the very short posts ("DM sent", "idem svp", "iPhone 7") where character n-grams carry
almost no evidence. The batch path walks py3langid's byte automaton for many posts at once with numpy: its
own per-byte Python loop costs ~50 µs on a tweet, the batch walk under 10 µs.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import py3langid
import scipy.sparse as sp
from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

from miner.cache import load_or_build, pack_array, unpack_array

FR, EN, OTHER = "fr", "en", "other"
# Languages other than fr/en seen in the Spotify/Free streams (Spanish, Portuguese, Italian, German, Dutch,
# Tagalog, Indonesian) plus the big non-Latin scripts. Scoring all 140 py3langid languages makes many short
# English posts look like some rare language, so a post becomes "other" only when one of these wins clearly.
OTHER_CANDIDATES = (
    "es", "pt", "it", "de", "nl", "tl", "id", "ar", "ru", "el", "he", "fa", "hi", "th", "zh", "ja", "ko",
)  # fmt: skip
# Column order of every score matrix below: French, English, then the others.
SCORED_LANGS = (FR, EN, *OTHER_CANDIDATES)
# Bytes of a cleaned post that are scored: the language is settled long before, and the walk costs per byte.
MAX_BYTES = 150
# Characters looked at before cleaning: enough to fill MAX_BYTES after URLs and handles are dropped.
MAX_CHARS = 4 * MAX_BYTES
# The four settings below were chosen on the Free/Spotify corpora; accuracy moved by under 0.3 points across
# EN_PRIOR 0-4, VOTE_WEIGHT 4-12 and OTHER_MARGIN 1-4, so they are not finely fitted.
# Log-odds (nats) added for English when fr/en evidence is weak: such posts are product names and version
# strings ("iPhone 7", "Android 6.0.1"), more often English, and "other" gets the English pipeline anyway.
EN_PRIOR = 2.0
# Log-odds (nats) per distinctive function word: one "svp" or "thanks" outweighs a few ambiguous letters.
# Only posts up to VOTE_MAX_BYTES get the vote: longer ones carry enough n-gram evidence, and it costs a pass.
VOTE_WEIGHT = 8.0
VOTE_MAX_BYTES = 80
# Per-sqrt(byte) score margin by which another language must beat fr/en (the length scaling py3langid uses for
# its probabilities), and the bytes a post needs before we believe it: "primo" or "Sierra" prove nothing.
OTHER_MARGIN = 2.0
MIN_OTHER_BYTES = 20
# Posts walked together: large enough to amortise numpy's per-call overhead, small enough to stay in cache.
BATCH_SIZE = 2048

# Words frequent in French posts and rare in English ones (accents optional: posts often drop them).
# fmt: off
FR_WORDS = frozenset({
    "je", "j", "tu", "nous", "vous", "il", "ils", "elle", "elles", "le", "la", "les", "des", "du", "un",
    "une", "est", "et", "pas", "ne", "de", "pour", "avec", "dans", "sur", "au", "aux", "ça", "ca", "c",
    "qu", "que", "qui", "quoi", "mais", "ou", "où", "sont", "suis", "ai", "fait", "très", "tres", "bien",
    "rien", "depuis", "toujours", "encore", "déjà", "deja", "aussi", "moi", "mon", "ma", "mes", "ton", "ta",
    "tes", "votre", "vos", "notre", "nos", "chez", "bonjour", "bonsoir", "salut", "merci", "svp", "stp",
    "idem", "allo", "allô", "coucou", "mdr", "ptdr", "bcp", "slt", "panne", "coupure", "réseau", "reseau",
    "problème", "probleme", "connexion"
})
# fmt: on
# Words frequent in English posts and rare in French ones ("hey", "lol", "ok", "help" are in both).
# fmt: off
EN_WORDS = frozenset({
    "i", "you", "your", "the", "is", "are", "it", "its", "to", "of", "and", "my", "not", "no", "yes",
    "yeah", "yep", "nope", "thanks", "thank", "thx", "ty", "please", "pls", "plz", "sent", "send", "done",
    "still", "can", "cant", "dont", "doesn", "didn", "isn", "wasn", "won", "what", "why", "how", "this",
    "that", "with", "for", "have", "has", "was", "just", "hi", "hello", "sure", "will", "would", "get",
    "got", "working", "work", "u", "ur", "anyone", "again", "when", "there"
})
# fmt: on

_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|__\w+__")
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class _Model:
    """py3langid's automaton as numpy arrays plus its naive-Bayes weights restricted to our languages."""

    nextmove: np.ndarray
    output: np.ndarray
    rowbase: np.ndarray
    weights: np.ndarray
    bias: np.ndarray


@lru_cache(maxsize=1)
def _model() -> _Model:
    """The model, once per process, from the disk cache (miner.cache): decompressing py3langid's xz file
    takes ~0.7 s, reading the arrays we keep of it a few milliseconds."""
    entry = load_or_build("langid", _model_arrays, (py3langid.__version__,), Path(__file__))
    return _Model(**{name: unpack_array(packed) for name, packed in entry.items()})


@lru_cache(maxsize=1)
def _walk_tables() -> tuple[array, list[int], list[int]]:
    """The automaton in py3langid's own types, for its per-byte walk of a single post."""
    model = _model()
    return array("I", model.nextmove.tobytes()), model.rowbase.tolist(), model.output.tolist()


def _model_arrays() -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    """py3langid's automaton and its naive-Bayes weights for SCORED_LANGS, as (dtype, shape, bytes)."""
    ident = LanguageIdentifier.from_model_file(MODEL_FILE)
    cols = [list(ident.nb_classes).index(lang) for lang in SCORED_LANGS]
    arrays = {
        "nextmove": np.frombuffer(ident.tk_nextmove, dtype=np.uint32),
        "output": np.asarray(ident.tk_output, dtype=np.int32),
        "rowbase": np.asarray([row << 8 for row in ident.tk_row], dtype=np.int64),
        "weights": np.asarray(ident.nb_ptc[:, cols], dtype=np.float32),
        "bias": np.asarray(ident.nb_pc[cols], dtype=np.float32),
    }
    return {name: pack_array(values) for name, values in arrays.items()}


def _clean(text: str) -> str:
    """Lower-case and drop what says nothing of the language: URLs, handles, hashtags, e-mail placeholders."""
    text = unicodedata.normalize("NFC", text[:MAX_CHARS]).lower()
    if "http" in text or "www." in text or "@" in text or "#" in text or "__" in text:
        text = _NOISE.sub(" ", text)
    return text


def _vote(cleaned: str) -> int:
    """French minus English function words: the evidence a short post lacks in character n-grams."""
    words = _WORD.findall(cleaned)
    return sum(word in FR_WORDS for word in words) - sum(word in EN_WORDS for word in words)


def _decide(raw: np.ndarray, cleaned: Sequence[str], n_bytes: np.ndarray) -> list[str]:
    """Labels from raw naive-Bayes log-likelihoods (one row per post, columns in SCORED_LANGS order)."""
    other_gap = raw[:, 2:].max(axis=1) - raw[:, :2].max(axis=1)
    is_other = (n_bytes >= MIN_OTHER_BYTES) & (other_gap > OTHER_MARGIN * np.sqrt(n_bytes))
    fr_odds = raw[:, 0] - raw[:, 1] - EN_PRIOR
    labels = []
    for text, size, odds, other in zip(
        cleaned, n_bytes.tolist(), fr_odds.tolist(), is_other.tolist(), strict=True
    ):
        if size <= VOTE_MAX_BYTES:
            odds += VOTE_WEIGHT * _vote(text)
        labels.append(OTHER if other else FR if odds > 0 else EN)
    return labels


def _encode(cleaned: str) -> bytes:
    """UTF-8 bytes as py3langid walks them, cut at MAX_BYTES (a cut multi-byte char only loses one n-gram)."""
    return cleaned.encode("utf-8", errors="surrogatepass")[:MAX_BYTES]


def _score_one(blob: bytes) -> np.ndarray:
    """Raw log-likelihoods for one post with py3langid's own walk (no numpy overhead per byte)."""
    model = _model()
    counts = visit_counts(*_walk_tables(), blob)
    if not counts:
        return model.bias.copy()
    feats = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
    values = np.log1p(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
    return values @ model.weights[feats] + model.bias


def _walk(blobs: Sequence[bytes]) -> sp.csr_matrix:
    """Feature counts for many posts: step the automaton one byte position at a time over all of them."""
    model = _model()
    order = np.argsort([-len(blob) for blob in blobs], kind="stable")
    lengths = np.array([len(blobs[i]) for i in order])
    width = int(lengths[0]) if len(blobs) else 0
    padded = b"".join(blobs[i].ljust(width, b"\0") for i in order)
    columns = np.frombuffer(padded, dtype=np.uint8).reshape(len(blobs), width).T.copy()
    states = np.zeros(len(blobs), dtype=np.int64)
    # active[pos]: how many posts (longest first) are longer than pos, i.e. still walking at that byte
    active = np.searchsorted(-lengths, -np.arange(1, width + 1), side="right")
    rows, feats = [], []
    for pos in range(width):
        live = active[pos]
        states[:live] = model.nextmove[model.rowbase[states[:live]] + columns[pos, :live]]
        found = model.output[states[:live]]
        hits = np.flatnonzero(found >= 0)
        rows.append(order[hits])
        feats.append(found[hits])
    return _count_matrix(rows, feats, len(blobs), model.weights.shape[0])


def _count_matrix(rows: list[np.ndarray], feats: list[np.ndarray], n_posts: int, n_feats: int) -> sp.spmatrix:
    """Sparse post x feature matrix of log1p(count), py3langid's feature transform."""
    row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.intp)
    col = np.concatenate(feats) if feats else np.zeros(0, dtype=np.intp)
    matrix = sp.csr_matrix((np.ones(len(row), dtype=np.float32), (row, col)), shape=(n_posts, n_feats))
    matrix.sum_duplicates()
    np.log1p(matrix.data, out=matrix.data)
    return matrix


def detect_lang(text: str) -> str:
    """Language of one post: "fr", "en" or "other". For many posts use detect_langs, several times faster."""
    cleaned = _clean(text)
    if not _LETTER.search(cleaned):
        return OTHER
    blob = _encode(cleaned)
    return _decide(_score_one(blob)[np.newaxis, :], [cleaned], np.array([len(blob)]))[0]


def detect_langs(texts: Iterable[str]) -> list[str]:
    """Languages of many posts, the same answers as detect_lang, scored BATCH_SIZE posts at a time."""
    cleaned = [_clean(text) for text in texts]
    labels = [OTHER] * len(cleaned)
    todo = [i for i, text in enumerate(cleaned) if _LETTER.search(text)]  # no letter: "other", unscored
    model = _model()
    for start in range(0, len(todo), BATCH_SIZE):
        chunk = todo[start : start + BATCH_SIZE]
        blobs = [_encode(cleaned[i]) for i in chunk]
        raw = _walk(blobs) @ model.weights + model.bias
        sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
        for i, label in zip(chunk, _decide(raw, [cleaned[i] for i in chunk], sizes), strict=True):
            labels[i] = label
    return labels
