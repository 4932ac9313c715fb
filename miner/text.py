"""Text pipeline: normalise noisy posts, then lemmatise them with spaCy for a scikit-learn vectorizer.

normalize() turns a raw post into clean lower-case text: markers for URLs and handles, split hashtags,
spaced emoji, squeezed letter runs, unescaped HTML entities, and the Free export's literal "n" line breaks
repaired where that is safe. lemmatize() tokenises with spaCy's French and English tokenizer rules (no
statistical model; its algorithm runs in miner.tokenizer, without importing spaCy) and maps each token through
the spacy-lookups-data lookup table: one space-joined string of lemmas per post. The rules, the lemma tables
and the known words are taken from spaCy once, then read from the disk cache (miner.tokenizer,
miner.lexicon).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from miner.lexicon import is_known, lemma, unaccented_lemma
from miner.tokenizer import chunk_tokenizer

FR, EN = "fr", "en"
# Characters of a post that are processed. Posts are tweets (<= 280) or Free exports (<= ~500); a huge paste
# must not stall the whole batch in regexes and the tokenizer, and its opening says what the post is about.
MAX_CHARS = 2_000
# Bound on normalize() output (a handle or an emoji at most triples: "@a" -> " user "). lemmatize() cuts
# longer input there, so raw text passed by mistake cannot reach spaCy's 1,000,000-character limit.
MAX_NORMALIZED_CHARS = 3 * MAX_CHARS
URL_TOKEN = "url"
USER_TOKEN = "user"
RETWEET_TOKEN = "rt"
# Punctuation tokens worth a feature ("is it down?", "toujours rien !"); other punctuation is dropped.
KEPT_PUNCTUATION = frozenset("?!")
# Lower-case hashtags that glue a service name to an outage word ("#instagramdown", "#pannefree") are split;
# any other all-lower-case hashtag stays one word, since splitting it blindly breaks words ("#freedom").
SERVICES = (
    "twitter", "instagram", "insta", "facebook", "fb", "whatsapp", "messenger", "snapchat", "tiktok",
    "youtube", "spotify", "netflix", "discord", "gmail", "outlook", "freebox", "free", "orange", "sfr",
    "bouygues", "psn",
)  # fmt: skip
OUTAGE_WORDS = ("down", "outage", "panne", "enpanne", "hs", "bug", "crash", "fail", "ko")

_SERVICE_ALT = "|".join(SERVICES)
_OUTAGE_ALT = "|".join(OUTAGE_WORDS)
_GLUED_HASHTAG = re.compile(rf"({_SERVICE_ALT})({_OUTAGE_ALT})|({_OUTAGE_ALT})({_SERVICE_ALT})")
_RETWEET = re.compile(r"\s*rt\s*(?:@\w+\s*)?:[\s:]*", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+(?:@\w+)*")  # not e-mail addresses; "@a@b" is one handle-ish blob
_HASHTAG = re.compile(r"#(\w+)")
# Camel-case boundaries: "TwitterDown" -> "Twitter Down", "ATTDown" -> "ATT Down"; a single leading lower-case
# letter is no boundary ("iPhone", "WiFi" stay whole).
_CAMEL = re.compile(r"(?<=[a-z]{2})(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# Emoji modifiers that only change how one emoji looks: variation selector, zero-width joiner, skin tones.
_EMOJI_MODIFIERS = re.compile("[\ufe0f\u200d\U0001f3fb-\U0001f3ff]")
_EMOJI_RUN = re.compile("([\U0001f000-\U0001faff\u2190-\u21ff\u2300-\u23ff\u25a0-\u27bf\u2b00-\u2bff])\\1*")
_EMOJI_HINT = re.compile("[\u2190-\U0010ffff]")  # any emoji; accents, "’", "…", "€" are below
_REPEATED_PUNCT = re.compile(r"([!-/:-@\[-`{-~])\1+")  # ASCII punctuation: "!!!" -> "!", "..." -> "."
_LETTER_RUN = re.compile(r"([^\W\d_])\1{2,}")
# Cheap pre-checks (a Unicode letter class costs ~3x a Latin range in Python's re): most posts skip the rest.
_LATIN_RUN_HINT = re.compile(r"([a-zß-ÿ])\1\1")
_NEWLINE_HINT = re.compile(r"(?<![\w'])n[bcdfgjklmnpqrstvwxz]|[.,!?;:…)\"»]n|nn")
_WORD_WITH_RUN = re.compile(r"[^\W\d_]*([^\W\d_])\1\1[^\W\d_]*")
# Artefacts only the Free export makes: a literal "n" glued after punctuation ("pas.nje", "merci !n") or a
# word starting with "nn" ("nnvous"); or, once the dictionary agrees, a line break glued before a word that
# starts with a consonant ("nmes", "ngenre", "nj'ai"), which no French or English word does bar shorthand
# ("nvm", "ngl": their rest is no word). Only posts carrying one get the riskier repairs below.
_FREE_SIGNATURE = re.compile(r"[.,!?;:…]n|(?<![\w'])nn[^\W\d_n]")
_GLUED_BEFORE_CONSONANT = re.compile(r"(?<![\w'])n([bcdfgjklmpqrstvwxz][^\W\d_]*(?:'[^\W\d_]+)?)")
_PUNCT_NEWLINE = re.compile(r"(?<=[.,!?;:…)\"»])n{1,3}(?![^\W\d_])")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_ELIDED = re.compile(r"(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu)'([^\W\d_]+)")
_N_RUN = re.compile(r"n+")
# Letters either side of a single "n" before "wordnword" is split: short halves match known words by chance.
MIN_SPLIT_LETTERS = 3
# Whitespace chunks whose lemmas are remembered before the memo is dropped: ~200 bytes each, so this bounds a
# long-running process to ~40 MB, while the real corpora use ~30,000 distinct chunks.
CHUNK_MEMO_SIZE = 200_000


def normalize(text: str) -> str:
    """Clean, lower-case, single-spaced text for the tokenizer.

    Pure, and idempotent on texts up to MAX_CHARS // 3 characters, except where an HTML entity survives the
    one unescape (double-escaped "&amp;lt;", or "&GT" that lower-cases into one)."""
    text = text[:MAX_CHARS]
    if "&" in text:
        text = html.unescape(text)
    text = text.replace("’", "'")
    if not text.isascii():  # first, so that "#🏻down" cannot turn into a hashtag on a second pass
        text = _EMOJI_MODIFIERS.sub("", text)
    text = _symbols(_links_and_tags(text)).lower()
    if _LATIN_RUN_HINT.search(text):
        text = _WORD_WITH_RUN.sub(_squeeze, text)
    if _NEWLINE_HINT.search(text):
        text = _repair_free_newlines(text)
    return _retweet_and_handles(text)


def _retweet_and_handles(text: str) -> str:
    """ "rt @bob: ..." -> "rt ...", other @handles -> USER_TOKEN, spaces collapsed. Last, since every earlier
    step can expose one ("#rt :", ".n@bob")."""
    retweet = _RETWEET.match(text)
    if retweet:
        text = f"{RETWEET_TOKEN} {text[retweet.end() :]}"
    if "@" in text:
        text = _MENTION.sub(f" {USER_TOKEN} ", text)
    return " ".join(text.split())


def _links_and_tags(text: str) -> str:
    """URLs become a marker word; hashtags lose their "#" and are split into words (needs the case)."""
    if "://" in text or "www." in text or "WWW." in text:
        text = _URL.sub(f" {URL_TOKEN} ", text)
    if "#" in text:
        text = _HASHTAG.sub(_split_hashtag, text)
    return text


def _split_hashtag(match: re.Match[str]) -> str:
    """ "#TwitterDown" -> "Twitter Down", "#instagramdown" -> "instagram down", "#panneinternet" stays."""
    body = match.group(1).replace("_", " ")
    if not body.islower():
        return f" {_CAMEL.sub(' ', body)} "
    glued = _GLUED_HASHTAG.fullmatch(body)
    return f" {' '.join(part for part in glued.groups() if part)} " if glued else f" {body} "


def _symbols(text: str) -> str:
    """One token per emoji run; punctuation runs squeezed: "😡😡!!!" -> " 😡 !"."""
    text = _REPEATED_PUNCT.sub(r"\1", text)
    if text.isascii() or not _EMOJI_HINT.search(text):
        return text
    return _EMOJI_RUN.sub(r" \1 ", text)


def _squeeze(match: re.Match[str]) -> str:
    """A word with a letter run cut to two letters ("goooood" -> "good"), or to one when only that is a known
    word ("pleeease" -> "please", "merciiii" -> "merci"); unknown either way, two ("plzzzz" -> "plzz").
    "nooooon" gives "noon", an English word: normalize() cannot know the post is French."""
    double = _LETTER_RUN.sub(r"\1\1", match.group(0))
    single = _LETTER_RUN.sub(r"\1", match.group(0))
    return single if is_known(single) and not is_known(double) else double


def _repair_free_newlines(text: str) -> str:
    """Undo the Free export's literal "n" line breaks in chunks that are not known words as they stand.

    Conservative by design. Anywhere, "wordnnword" is split when both halves are known words of 3+ letters
    and the whole is not ("bonjournnmerci" -> "bonjour merci"). Posts with an unmistakable export artefact
    (_exported(): "pas.nje", "merci !n", "nnvous", "nmes") also get the riskier cuts: a lone "n" chunk is
    dropped; an "n" run glued after punctuation or to either end of a word is cut when what remains is a known
    word ("clientsn" -> "clients"); "wordnword" is split around a single "n" ("vousnmais" -> "vous mais").
    Elsewhere these would misfire: the vocabulary lacks words like "uninstalled", "screenshot" or "nah", and a
    name made of two known words ("fontenailles") can be split wrongly anyway. Unknown words stay glued.
    """
    exported = _exported(text)
    repair = _repair_word if exported else _split_blank_line
    suspect = "n" if exported else "nn"
    chunks = []
    for chunk in text.split():
        if suspect in chunk and not is_known(chunk):
            if not exported:
                chunk = _WORD.sub(repair, chunk)
            elif chunk.strip("n"):
                chunk = _WORD.sub(repair, _PUNCT_NEWLINE.sub(" ", chunk))
            else:
                chunk = ""
        chunks.append(chunk)
    return " ".join(chunks)


def _exported(text: str) -> bool:
    """Whether a post carries an unmistakable Free export line break (see _FREE_SIGNATURE)."""
    if _FREE_SIGNATURE.search(text):
        return True
    glued = (match[1] for match in _GLUED_BEFORE_CONSONANT.finditer(text))
    return any(_known(word) and not _known(f"n{word}") for word in glued)


def _split_blank_line(match: re.Match[str]) -> str:
    """ "bonjournnmerci" -> "bonjour merci", the one repair safe in any post."""
    word = match.group(0)
    if "nn" not in word or _known(word):
        return word
    return _split_newline(word, min_run=2, shortest=MIN_SPLIT_LETTERS) or word


def _repair_word(match: re.Match[str]) -> str:
    """One word of a suspect chunk in an exported post, line breaks cut out where the dictionary agrees."""
    word = match.group(0)
    if "n" not in word or _known(word):
        return word
    return _strip_newline(word) or _split_newline(word, min_run=1, shortest=2) or word


def _strip_newline(word: str) -> str | None:
    """ "nnvous" -> " vous", "clientsn" -> "clients ": a line break glued to either end of a known word."""
    lead = len(word) - len(word.lstrip("n"))
    for cut in range(min(lead, 3), 0, -1):  # longest first: "nnil" is a blank line then "il", not "nil"
        rest = word[cut:]
        fixed = rest if _known(rest) else _split_newline(rest, min_run=1, shortest=2)  # "nvousnmais"
        if fixed:
            return f" {fixed}"
    trail = len(word) - len(word.rstrip("n"))
    for cut in range(min(trail, 3), 0, -1):
        if len(word) - cut >= 2 and _known(word[:-cut]):
            return f"{word[:-cut]} "
    return None


def _split_newline(word: str, min_run: int, shortest: int) -> str | None:
    """ "oknnmais" -> "ok mais": cut 1-3 n's from a run of min_run+ inside a word when the words either side
    are known and have `shortest` letters (MIN_SPLIT_LETTERS when a single "n" goes)."""
    for run in _N_RUN.finditer(word):
        if run.end() - run.start() < min_run:
            continue
        for start in range(run.end() - 1, run.start() - 1, -1):  # longest left part first: "rien|n|moyen"
            for stop in range(start + 1, min(run.end(), start + 3) + 1):
                left, right = word[:start], word[stop:]
                least = max(shortest, MIN_SPLIT_LETTERS if stop - start == 1 else 0)
                if min(len(left), len(right)) >= least and _known(left) and _known(right):
                    return f"{left} {right}"
    return None


def _known(word: str) -> bool:
    """A French or English word, elided forms included ("j'ai", "qu'il")."""
    if is_known(word):
        return True
    elided = _ELIDED.fullmatch(word)
    return elided is not None and is_known(elided.group(1))


class _Lemmatizer:
    """Lemmas for one language, memoised per whitespace chunk: posts reuse the same few thousand words.

    spaCy's tokenizer splits on whitespace first and then treats each chunk on its own (its cache is keyed the
    same way), so tokenising the unseen chunks alone gives exactly the tokens of the whole post, while a post
    whose chunks are all known costs a few dict lookups. Unseen chunks go through spaCy's algorithm in
    Python (miner.tokenizer.ChunkTokenizer), without spaCy's Doc objects.
    """

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.chunks = chunk_tokenizer(lang)
        self.memo: dict[str, str] = {}

    def lemmatize(self, texts: list[str]) -> list[str]:
        """Space-joined lemmas per post."""
        if len(self.memo) > CHUNK_MEMO_SIZE:
            self.memo.clear()
        chunked = [text[:MAX_NORMALIZED_CHARS].split() for text in texts]
        unseen = list({chunk: None for chunks in chunked for chunk in chunks if chunk not in self.memo})
        # lemma() reads the lookup table as spaCy's lookup lemmatizer would, plus norms and accent repair.
        for chunk in unseen:
            tokens = self.chunks.tokens(chunk)
            self.memo[chunk] = " ".join(filter(None, (self.lemma(norm) for _, norm in tokens)))
        memo = self.memo
        return [" ".join(filter(None, [memo[chunk] for chunk in chunks])) for chunks in chunked]

    def lemma(self, norm: str) -> str:
        """Lemma of a token's norm ("n't" -> "not", "ca" -> "can"); "" for punctuation a model cannot use."""
        known = lemma(self.lang, norm)
        if known is not None:
            return known
        if norm in KEPT_PUNCTUATION:
            return norm
        if all(unicodedata.category(char)[0] in "PZ" for char in norm):
            return ""
        found = unaccented_lemma(norm) if self.lang == FR else None
        return norm if found is None else found


@lru_cache(maxsize=2)
def _lemmatizer(lang: str) -> _Lemmatizer:
    """One memoising lemmatizer per language."""
    return _Lemmatizer(lang)


def lemmatize(texts: Iterable[str], langs: Iterable[str]) -> list[str]:
    """Space-joined lower-case lemmas of each post, for a vectorizer splitting on spaces.

    texts are normalize() output (callers keep it for character n-grams, so it is not redone here); "fr" posts
    go through the French pipeline, all others ("en", "other") through the English one.
    """
    texts, langs = list(texts), list(langs)
    if len(texts) != len(langs):
        raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
    results = [""] * len(texts)
    for lang in (FR, EN):
        rows = [i for i, post_lang in enumerate(langs) if (post_lang == FR) == (lang == FR)]
        if not rows:  # a language's tables and tokenizer load only when a post needs them
            continue
        lemmas = _lemmatizer(lang).lemmatize([texts[i] for i in rows])
        for i, post_lemmas in zip(rows, lemmas, strict=True):
            results[i] = post_lemmas
    return results
