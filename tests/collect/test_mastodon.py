"""Mastodon specifics: HTML to text, boosts, Link-header paging, search with a token, per-instance state."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from miner import store
from miner.collect import Query, collect
from miner.collect.mastodon import MastodonCollector, html_to_text, instance_url
from miner.privacy import author_key
from tests.collect.conftest import MASTODON_TOKEN, Waits
from tests.collect.fakes import FakeMastodon, FakeServer

TAG = Query("free", "#freebox")
SEARCH = Query("free", "freebox panne", "fr")


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Freebox en panne &amp; pas de réseau&nbsp;!</p>", "Freebox en panne & pas de réseau\xa0!"),
        ("<p>ligne 1<br>ligne 2</p><p>suite</p>", "ligne 1\nligne 2\n\nsuite"),
        (  # Mastodon hides the start and end of long link texts in spans: keep the whole URL
            '<p>voir <a href="https://downdetector.fr/statut/free/">'
            '<span class="invisible">https://</span><span class="ellipsis">downdetector.fr/statut/fr</span>'
            '<span class="invisible">ee/</span></a></p>',
            "voir https://downdetector.fr/statut/free/",
        ),
        (
            '<p><span class="h-card"><a href="https://x.example/@free">@<span>free</span></a></span>'
            " ça bug</p>",
            "@free ça bug",
        ),
    ],
)
def test_html_becomes_plain_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_instances_may_be_bare_host_names() -> None:
    assert instance_url("mastodon.social/") == "https://mastodon.social"
    assert instance_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


def test_pages_follow_the_link_header(sqlite_engine: Engine, server: FakeServer, waits: Waits) -> None:
    fake = FakeMastodon(server)
    ids = fake.add(3)
    with MastodonCollector(server.url, policy=waits.policy()) as masto:
        collect(sqlite_engine, masto, TAG)
    assert server.seen[0].params == {"limit": "40"}
    assert server.seen[1].params["max_id"] == ids[1]  # the oldest of page 1, as the Link header said
    assert "authorization" not in server.seen[0].headers


def test_boosts_are_skipped_and_accounts_get_their_domain(
    sqlite_engine: Engine, server: FakeServer, waits: Waits
) -> None:
    fake = FakeMastodon(server)
    fake.add(1)
    fake.add(1, account={"id": "9", "username": "bob", "acct": "bob@elsewhere.example"})
    fake.add(1, reblog={"id": "1", "content": "<p>boosted</p>"})
    host = server.url.removeprefix("http://")
    with MastodonCollector(server.url, policy=waits.policy()) as masto:
        summary = collect(sqlite_engine, masto, TAG)
    assert (summary.posts, summary.rejected) == (2, 0)
    with sqlite_engine.connect() as conn:
        authors = set(conn.execute(select(store.posts.c.author)).scalars())
    assert authors == {author_key(f"camille1@{host}"), author_key("bob@elsewhere.example")}


def test_search_needs_a_token_and_sends_language(
    sqlite_engine: Engine, server: FakeServer, waits: Waits
) -> None:
    fake = FakeMastodon(server)
    fake.add(3)
    with MastodonCollector(server.url, policy=waits.policy()) as anonymous:
        assert anonymous.accepts(TAG) and not anonymous.accepts(SEARCH)
    with MastodonCollector(server.url, token=MASTODON_TOKEN, policy=waits.policy()) as masto:
        assert masto.accepts(SEARCH)
        summary = collect(sqlite_engine, masto, SEARCH)
    assert summary.new == 3
    first, second = server.seen[0], server.seen[1]
    assert first.path == "/api/v2/search" and first.headers["authorization"] == f"Bearer {MASTODON_TOKEN}"
    assert first.params["q"] == "freebox panne language:fr" and first.params["type"] == "statuses"
    assert second.params["max_id"] == fake.statuses[1]["id"]  # no Link header: the oldest id on the page


def test_checkpoints_are_per_instance(server: FakeServer, waits: Waits) -> None:
    one = MastodonCollector("mastodon.social", policy=waits.policy())
    other = MastodonCollector("piaille.fr", policy=waits.policy())
    with one, other:
        assert one.checkpoint_key(TAG) == "mastodon.social #freebox"
        assert other.checkpoint_key(SEARCH) == "piaille.fr freebox panne lang:fr"
