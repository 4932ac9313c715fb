"""Language id: "fr", "en" or "other" on noisy posts, batch walk against py3langid's, real accuracy."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from miner import cache
from miner import lang as language_id
from miner.lang import EN, FR, OTHER, detect_lang, detect_langs
from tests.realdata import FREE_POSTS, SPOTIFY_POSTS

# Real posts per language for the accuracy test: a stable figure in about a second.
SAMPLE_PER_LANG = 300
# Measured ~0.99 on these posts; the margin absorbs the odd English post in the Free export and vice versa.
MIN_ACCURACY = 0.97
# Posts with fewer letters (once handles and links are gone) carry no language: "@SpotifyCares 👍" is
# labelled "other" by hand, so the file's language is no ground truth for them.
MIN_LETTERS = 10
_HANDLES_AND_LINKS = re.compile(r"@\w+|https?://\S+|__\w+__")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("l'appli plante depuis ce matin, impossible de me connecter", FR),
        ("toujours pas d internet depuis hier soir c est quoi ce delire", FR),  # no accents, no apostrophes
        ("bonjour,nnla box redemarre en boucle.nnmerci de votre aide", FR),  # Free export line breaks
        ("rt : coupure fibre a marseille ?", FR),
        ("idem svp", FR),  # too short for n-grams: the function-word vote decides
        ("#TwitterDown again, can't load my timeline https://t.co/x1", EN),
        ("@SpotifyCares DM sent", EN),
        ("iPhone 7, iOS 11.0.3", EN),  # no language evidence: the English prior
        ("SONGS KEEP SKIPPING 😡😡😡", EN),
        ("@SpotifyCares Ya les envié DM pero aún no tengo ningún tipo de respuesta!", OTHER),
        ("@SpotifyCares ok, vou entrar em contato através da página. obrigado!!", OTHER),
        ("@SpotifyCares اكو عندهم Arabic support اكو اهرب بعيد", OTHER),
        ("わざわざありがとうございます、確認しました。", OTHER),
        ("", OTHER),
        ("@SpotifyCares https://t.co/CK6k7mH5lR", OTHER),  # nothing but a handle and a link
        ("👍👍 !!", OTHER),
    ],
)
def test_detect_lang(text: str, expected: str) -> None:
    assert detect_lang(text) == expected


def test_short_spanish_word_is_not_enough_for_other() -> None:
    # "primo" scores Spanish, but five letters prove nothing: MIN_OTHER_BYTES keeps it fr/en.
    assert detect_lang("@SpotifyCares primo") in {FR, EN}


def test_huge_post_is_cut_not_choked_on() -> None:
    huge = "la fibre est coupée depuis ce matin " * 30_000  # ~1 MB
    assert detect_lang(huge) == FR
    assert detect_langs([huge, "still down"]) == [FR, EN]


def test_batch_is_empty_safe() -> None:
    assert detect_langs([]) == []
    assert detect_langs(["", "   "]) == [OTHER, OTHER]


def _real_sample() -> pd.DataFrame:
    """SAMPLE_PER_LANG posts from each real corpus with the file's language, letterless posts left out."""
    frames = []
    for path, lang in ((FREE_POSTS, FR), (SPOTIFY_POSTS, EN)):
        posts = pd.read_csv(path, dtype=str, keep_default_na=False)
        letters = posts["text"].str.replace(_HANDLES_AND_LINKS, "", regex=True).str.count(r"[^\W\d_]")
        frames.append(posts[letters >= MIN_LETTERS].sample(SAMPLE_PER_LANG, random_state=7).assign(lang=lang))
    return pd.concat(frames, ignore_index=True)


def test_accuracy_on_real_posts() -> None:
    sample = _real_sample()
    predicted = detect_langs(sample["text"])
    accuracy = (pd.Series(predicted) == sample["lang"]).mean()
    assert accuracy >= MIN_ACCURACY


def test_batch_walk_matches_single_post_walk() -> None:
    # detect_lang uses py3langid's own automaton walk, detect_langs our numpy walk over many posts at once.
    texts = _real_sample()["text"].tolist()
    assert detect_langs(texts) == [detect_lang(text) for text in texts]


def test_cached_model_is_py3langid_model(tmp_path, monkeypatch) -> None:
    # The arrays come from the disk cache (miner.cache); read back from a fresh one, they are py3langid's.
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path))
    language_id._model.cache_clear()
    try:
        language_id._model()  # builds the entry
        language_id._model.cache_clear()
        cached = language_id._model()  # reads it back
        ident = LanguageIdentifier.from_model_file(MODEL_FILE)
        cols = [list(ident.nb_classes).index(code) for code in language_id.SCORED_LANGS]
        np.testing.assert_array_equal(cached.nextmove, np.frombuffer(ident.tk_nextmove, dtype=np.uint32))
        np.testing.assert_array_equal(cached.output, ident.tk_output)
        np.testing.assert_array_equal(cached.rowbase, [row << 8 for row in ident.tk_row])
        np.testing.assert_array_equal(cached.weights, ident.nb_ptc[:, cols].astype(np.float32))
        np.testing.assert_array_equal(cached.bias, ident.nb_pc[cols].astype(np.float32))
    finally:
        language_id._model.cache_clear()
