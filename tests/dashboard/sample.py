"""A small store the dashboard tests share: two services, an ongoing and a past incident, tricky posts.

Times are in 2024 on purpose: the dashboard must read them relative to the newest post, not the clock.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Table

from miner import store
from miner.dashboard import queries as q
from miner.dashboard.overview import Standing, standings
from miner.labels import TYPES
from miner.post import Post
from miner.privacy import author_key

NOW = datetime(2024, 6, 10, 11, 0, tzinfo=UTC)  # newest post of "free"
MODEL, OLD_MODEL = "model-2", "model-1"
SCRIPT = "<script>alert(1)</script>"
HANDLE = "alice_fr"  # stored raw, as when MINER_KEEP_HANDLES=1
INCIDENT_START = datetime(2024, 6, 10, 10, 0, tzinfo=UTC)
PAST_START = datetime(2024, 6, 8, 8, 0, tzinfo=UTC)
APP_FR = [
    "l'appli free plante au démarrage",
    "appli Freebox bloquée sur l'écran de chargement",
    "impossible d'ouvrir l'application free ce matin",
    "l'app free crashe à chaque fois",
    "application free inutilisable depuis 10h",
]
WEBSITE_EN = [
    "free website is down for me",
    "the free.fr site returns error 502",
    "can't load free customer page",
]


@dataclass(frozen=True)
class Report:
    """One post and what the classifier said of it."""

    id: str
    text: str
    at: datetime
    service: str = "free"
    lang: str = "fr"
    types: tuple[str, ...] = ()
    prob: float = 0.9
    author: str = ""

    @property
    def outage(self) -> bool:
        return bool(self.types)


def _background() -> list[Report]:
    """Three days of one connectivity report an hour, plus chatter that is no outage report."""
    hourly = [
        Report(
            f"bg{h}",
            f"pas d'internet chez free, heure {h}",
            NOW - timedelta(hours=72 - h, minutes=53),
            types=("connectivity",),
            prob=0.6,
        )
        for h in range(72)
    ]
    chatter = [
        Report(f"chat{i}", f"la nouvelle offre free est sympa {i}", NOW - timedelta(minutes=30 * i), prob=0.1)
        for i in range(6)
    ]
    return hourly + chatter


def _current_incident() -> list[Report]:
    """The ongoing incident: French app reports (some retweeted), English website reports, tricky posts."""
    app = [
        Report(
            f"app{i}",
            APP_FR[i % 5],
            INCIDENT_START + timedelta(minutes=i),
            types=("app",),
            prob=0.95 - i / 100,
            author=author_key(f"user{i}"),
        )
        for i in range(20)
    ]
    retweets = [
        Report(
            f"rt{i}",
            f"RT @user{i}: {APP_FR[0]}",
            INCIDENT_START + timedelta(minutes=20 + i),
            types=("app",),
            prob=0.97,
        )
        for i in range(3)
    ]
    web = [
        Report(
            f"web{i}",
            WEBSITE_EN[i % 3],
            INCIDENT_START + timedelta(minutes=2 * i),
            lang="en",
            types=("website",),
            prob=0.9 - i / 100,
            author=author_key(f"en{i}"),
        )
        for i in range(10)
    ]
    tricky = [
        Report("xss", SCRIPT, INCIDENT_START + timedelta(minutes=30), lang="en", types=("app",), prob=0.999),
        Report(
            "handle",
            "Freebox TV app frozen again, nothing works",
            INCIDENT_START + timedelta(minutes=31),
            lang="en",
            types=("app",),
            prob=0.998,
            author=HANDLE,
        ),
    ]
    return app + retweets + web + tricky


def _past_incident() -> list[Report]:
    """A past, connectivity-only incident two days earlier."""
    cities = ["Paris", "Lyon", "Lille", "Nantes", "Brest", "Nice"]
    return [
        Report(
            f"past{i}",
            f"fibre free coupée à {cities[i % 6]}, aucune synchro",
            PAST_START + timedelta(minutes=4 * i),
            types=("connectivity",),
            prob=0.9,
        )
        for i in range(8)
    ]


def _orange() -> list[Report]:
    """A quiet second service: a few English website reports, no incident."""
    return [
        Report(
            f"or{i}",
            f"orange website slow today {i}",
            NOW - timedelta(hours=2 + i),
            service="orange",
            lang="en",
            types=("website",),
            prob=0.8,
        )
        for i in range(4)
    ]


REPORTS = _background() + _current_incident() + _past_incident() + _orange()
# Incidents as the detector stores them (times are bin labels); one of an older model must stay hidden.
UNRECORDED = {"escalated_at": None, "series": None, "sensitivity": None}  # columns some incidents leave out
INCIDENTS = [
    {
        "start": INCIDENT_START,
        "detected_at": INCIDENT_START + timedelta(minutes=10),
        "peak": INCIDENT_START + timedelta(minutes=15),
        "end": INCIDENT_START + timedelta(minutes=35),
        "peak_count": 9,
        "expected_at_peak": 0.4,
        "level": "outage",
        "escalated_at": INCIDENT_START + timedelta(minutes=10),
        "type_shares": {"app": 0.6, "website": 0.4},
        "model_version": MODEL,
        "series": ["reports", "app"],
        "sensitivity": "high",
    },
    {
        "start": PAST_START,
        "detected_at": PAST_START + timedelta(minutes=10),
        "peak": PAST_START + timedelta(minutes=10),
        "end": PAST_START + timedelta(minutes=25),
        "peak_count": 6,
        "expected_at_peak": 0.3,
        "level": "possible",
        "type_shares": {"connectivity": 1.0},
        "model_version": MODEL,
        "series": ["connectivity"],
        "sensitivity": "normal",
    },
    {
        "start": PAST_START - timedelta(days=1),
        "detected_at": PAST_START,
        "peak": PAST_START,
        "end": PAST_START,
        "peak_count": 5,
        "expected_at_peak": 0.2,
        "level": "possible",
        "type_shares": {"dm": 1.0},
        "model_version": OLD_MODEL,
    },
]


def _post(r: Report) -> Post:
    return Post(
        source="x",
        id=r.id,
        text=r.text,
        created_at=r.at,
        service=r.service,
        lang=r.lang,
        author=r.author,
        url=f"https://x.com/i/status/{r.id}",
    )


def _prediction(r: Report, model: str, at: datetime, types: tuple[str, ...]) -> dict[str, object]:
    flags = {f"t_{t}": t in types for t in TYPES}
    probs = {f"p_{t}": 0.9 if t in types else 0.05 for t in TYPES}
    output = {"lang": r.lang, "is_outage": bool(types), "outage_prob": r.prob, **probs, **flags}
    return store.prediction_row(_post(r), output, model, at)


def add_posts(engine: Engine, reports: list[Report]) -> None:
    """Store posts only (as right after `miner import`)."""
    with engine.begin() as conn:
        store.insert_posts(conn, [_post(r) for r in reports])


def fill(engine: Engine, reports: list[Report] = REPORTS, predictions: Table = store.predictions) -> None:
    """Posts, predictions of the current model and of an older one (which says "dm" for all), incidents.
    `predictions` is the table written (`tests.stores.PREDICTIONS_V3` fills a version 3 store)."""
    add_posts(engine, reports)
    rows = [_prediction(r, MODEL, NOW, r.types) for r in reports] + [
        _prediction(r, OLD_MODEL, NOW - timedelta(days=30), ("dm",)) for r in reports
    ]
    with engine.begin() as conn:
        conn.execute(predictions.insert(), [{k: v for k, v in r.items() if k in predictions.c} for r in rows])
        conn.execute(
            store.incidents.insert(),
            [{"service": "free", "updated_at": NOW, **UNRECORDED} | i for i in INCIDENTS],
        )


def answers(engine: Engine) -> dict[str, Any]:
    """What the dashboard's pages read from a store holding the sample, as plain values: two stores that
    hold the same data must give the same (SQLite and PostgreSQL, before and after a migration)."""
    now, day = pd.Timestamp(NOW), pd.Timedelta(days=1)
    with engine.connect() as conn:
        found: dict[str, Any] = {
            "services": q.services(conn),
            "latest": (q.latest_service(conn), q.post_time(conn), q.post_time(conn, "free", first=True)),
            "version": q.latest_model_version(conn),
            "incidents": q.service_incidents(conn, "free", MODEL).to_dict("records"),
            "overview": [_plain(s) for s in standings(conn, [("free", "Free"), ("orange", "O")], MODEL, now)],
        }
        for version, lang, kind in product((MODEL, OLD_MODEL), (q.ALL, "fr", "en"), (q.ALL, "app", "dm")):
            scope = q.Scope(version, q.Filters("free", lang, kind), now - 3 * day, now + day)
            found[f"{version} {lang} {kind}"] = (
                q.report_counts(conn, scope, pd.Timedelta("15min")).to_dict(),
                q.type_counts(conn, scope).to_dict(),
                sorted(map(tuple, q.quote_candidates(conn, scope, per_lang=5).to_numpy().tolist())),
                q.reports(conn, scope).to_dict("records"),
            )
    return found


def _plain(line: Standing) -> tuple:
    trend = line.trend.to_dict()
    return (*astuple(line.status), line.service, line.reports, line.usual, trend, line.top_type)
