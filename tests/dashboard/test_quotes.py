"""Quote selection (diverse, originals first, languages alternating) and the escaping of untrusted text."""

from __future__ import annotations

import html
import re

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from miner.dashboard.quotes import escape_markdown, handle, is_retweet, pick, safe_url, similar, to_csv, words

MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
TRICKY = "ab \n\t<>&\"'`*_{}[]()#+-=.!|~:$\\@/1é😀"


def candidates(*rows: tuple[str, str, float]) -> pd.DataFrame:
    """Candidate frame as `quote_candidates` returns it (text, lang, probability; no engagement)."""
    return pd.DataFrame(
        {
            "text": [r[0] for r in rows],
            "lang": [r[1] for r in rows],
            "outage_prob": [r[2] for r in rows],
            "likes": None,
            "reposts": None,
        }
    )


def test_retweets_are_recognised() -> None:
    assert is_retweet("RT @free: panne géante")
    assert is_retweet("rt : panne")
    assert not is_retweet("art: la panne")
    assert words("RT @free: Panne GÉANTE https://t.co/x 42 #free") == {"panne", "géante", "free"}


def test_similar_means_mostly_the_same_words() -> None:
    assert similar(words("l'appli free plante !!"), words("L'appli Free plante"))
    assert not similar(words("l'appli free plante"), words("le site free ne charge plus"))


def test_pick_collapses_retweets_and_near_duplicates() -> None:
    found = pick(
        candidates(
            ("RT @a: l'appli free plante encore", "fr", 0.99),
            ("l'appli free plante encore", "fr", 0.95),
            ("l'appli Free plante encore !!", "fr", 0.94),
            ("le site free ne charge plus", "fr", 0.90),
        )
    )
    assert found["text"].tolist() == ["l'appli free plante encore", "le site free ne charge plus"]


def test_pick_alternates_languages_best_first() -> None:
    found = pick(
        candidates(
            ("wifi down again", "en", 0.80),
            ("plus de réseau chez moi", "fr", 0.99),
            ("box en panne depuis ce matin", "fr", 0.98),
            ("app keeps crashing", "en", 0.70),
            ("impossible de se connecter", "fr", 0.97),
        ),
        n=4,
    )
    assert found["lang"].tolist() == ["fr", "en", "fr", "en"]
    assert found["outage_prob"].tolist() == [0.99, 0.80, 0.98, 0.70]


def test_pick_of_nothing_is_empty() -> None:
    assert pick(candidates()).empty


def test_script_tag_is_escaped() -> None:
    assert escape_markdown("<script>alert(1)</script>") == "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"


@given(st.text(alphabet=TRICKY, max_size=60))
def test_escaped_text_renders_as_exactly_the_text(text: str) -> None:
    """Whatever the post says, Markdown shows it literally: paragraphs only, same visible characters."""
    rendered = MARKDOWN.render(escape_markdown(text))
    assert set(re.findall(r"</?(\w+)", rendered)) <= {"p"}
    shown = html.unescape(re.sub(r"</?p>", " ", rendered))
    assert shown.split() == "\n".join(line.strip() for line in text.splitlines()).split()


def test_only_web_links_are_linked() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("data:text/html,<b>x</b>") is None
    assert safe_url("/relative") is None
    assert safe_url("") is None
    assert safe_url("https://x.com/a_(b) c") == "https://x.com/a_%28b%29%20c"


def test_handles_never_pseudonyms() -> None:
    assert handle("anon:0123456789abcdef") is None
    assert handle("") is None
    assert handle("alice") == "alice"


def test_csv_cells_are_not_formulas() -> None:
    csv = to_csv(pd.DataFrame({"text": ['=HYPERLINK("http://evil")', "@SUM(1)", "ok"], "n": [1, -2, 3]}))
    assert csv.decode().splitlines() == ["text,n", '"\'=HYPERLINK(""http://evil"")",1', "'@SUM(1),-2", "ok,3"]
