"""Pick the posts quoted on the page and make their untrusted text safe to show.

Candidates come from SQL (the most probable reports per language); here they are made diverse:
retweets and near-duplicates collapse onto one quote, and languages take turns.
"""

from __future__ import annotations

import html
import re
from itertools import chain, zip_longest
from urllib.parse import quote, urlsplit

import pandas as pd

from miner.privacy import is_pseudonym

QUOTES = 6
# Two posts whose word sets overlap this much say the same thing ("l'appli plante !!" vs "l'appli plante").
SIMILAR = 0.6
RETWEET = re.compile(r"^\s*rt\s*(@\w+)?\s*:\s*", re.IGNORECASE)
_NOISE = re.compile(r"https?://\S+|@\w+|#|\d+")
_WORD = re.compile(r"\w+")
# Markdown (and Streamlit's :color[...] and $math$) treats these as syntax; a backslash makes them text.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-=.!|~:$])")
# A spreadsheet cell starting with one of these is a formula (CSV injection).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def is_retweet(text: str) -> bool:
    """True for "RT @user: ..." and "rt : ..." reposts."""
    return bool(RETWEET.match(text))


def words(text: str) -> frozenset[str]:
    """What a post says, without retweet prefix, links, mentions, numbers and case."""
    return frozenset(_WORD.findall(_NOISE.sub(" ", RETWEET.sub("", text)).lower()))


def similar(a: frozenset[str], b: frozenset[str]) -> bool:
    """Near-duplicates: same words for the most part (Jaccard index)."""
    return bool(a | b) and len(a & b) / len(a | b) >= SIMILAR


def _round_robin(groups: list[list[int]]) -> list[int]:
    """Interleave groups: first of each, then second of each..."""
    return [i for i in chain.from_iterable(zip_longest(*groups)) if i is not None]


def pick(candidates: pd.DataFrame, n: int = QUOTES) -> pd.DataFrame:
    """Up to n telling, different posts: originals before retweets (a retweet says nothing new), then
    the most probable, then the most engaging; languages alternate, the one of the best post first."""
    ranked = candidates.assign(
        _rt=candidates["text"].map(is_retweet),
        _echo=candidates[["likes", "reposts"]].fillna(0).sum(axis=1),
    ).sort_values(["_rt", "outage_prob", "_echo"], ascending=[True, False, False], kind="stable")
    groups = [list(g.index) for _, g in ranked.groupby("lang", sort=False, dropna=False)]
    chosen: list[int] = []
    seen: list[frozenset[str]] = []
    for index in _round_robin(groups):
        said = words(ranked.at[index, "text"])
        if not any(similar(said, other) for other in seen):
            chosen.append(index)
            seen.append(said)
        if len(chosen) == n:
            break
    return candidates.loc[chosen]


def escape_markdown(text: str) -> str:
    """Untrusted text that st.markdown shows literally: no HTML, links, images, emphasis, headings or math.

    Lines lose their indentation too, which would otherwise make a code block."""
    flat = "\n".join(line.strip() for line in text.splitlines())
    return html.escape(_MARKDOWN.sub(r"\\\1", flat), quote=False)


def safe_url(url: str | None) -> str | None:
    """A link target that can only be a web page (no javascript: or data: URLs), quoted for Markdown."""
    parts = urlsplit(url or "")
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return quote(url or "", safe=":/?#@!$&'*+,;=%~")


def _csv_cell(value: object) -> object:
    """A cell that spreadsheets will not run as a formula (post text is untrusted)."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA) else value


def to_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV of a frame holding untrusted text, safe to open in a spreadsheet."""
    return frame.map(_csv_cell).to_csv(index=False).encode()


def handle(author: str | None) -> str | None:
    """The author's handle when the store holds raw handles; never a pseudonym."""
    return None if not author or is_pseudonym(author) else author
