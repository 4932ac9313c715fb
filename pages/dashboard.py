"""Dashboard page: is a service down, since when, what breaks, what people say.

One `show_*` function per panel. The engine is opened once per process (st.cache_resource); every query goes
through `cached` (st.cache_data, keyed by its arguments, short TTL), so moving a filter back and forth does
not hit the database again. The dashboard never writes to the store. Its first view focuses on the newest
incident when the default window holds none, so that old data still opens on its story. `app.py` runs it as
the default page; `?service=NAME` (and `&incident=ID`) open it on a service (and an incident).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.engine import Connection, make_url

from miner import store
from miner.breakdown import percent
from miner.dashboard import queries
from miner.dashboard.charts import types_chart, volume_chart
from miner.dashboard.queries import ALL, Filters, Scope
from miner.dashboard.quotes import escape_markdown, handle, pick, safe_url, to_csv
from miner.dashboard.summary import (
    INCIDENT_BIN,
    current_status,
    incident_label,
    incident_origin,
    incident_table,
    incidents_export,
    kind_shares,
    local_time,
    plural,
)
from miner.dashboard.timeline import (
    CUSTOM,
    HISTORY,
    TIME_ZONES,
    WINDOWS,
    Span,
    incident_span,
    incident_to_open,
    window_span,
    with_band,
)
from miner.errors import StoreError
from miner.labels import KIND_TITLES, KINDS, LANGS, TYPES

TTL = timedelta(seconds=60)  # new reports show within a minute without re-querying on every click
LIVE_WITHIN = timedelta(minutes=10)  # a post ingested this recently means a collector is running
REFRESH = timedelta(seconds=60)
DEFAULT_TZ = "Europe/Paris"
CHART_VIEWS = ("Reports", "By type")
OPENED = "opened_incident"  # session key: the incident the first view focused on by itself
LANG_NAMES = {ALL: "all", "fr": "français", "en": "English"}
BANNERS: dict[str, tuple[Callable[..., Any], str]] = {
    "ok": (st.success, "No problems detected at {service}"),
    "possible": (st.warning, "Possible problems at {service}"),
    "outage": (st.error, "User reports indicate problems at {service}"),
}


@dataclass(frozen=True)
class View:
    """Everything the panels need once the user has chosen: filters, bins shown, focus of quotes/shares."""

    url: str
    version: str
    filters: Filters
    tz: str
    span: Span
    focus: Scope
    first: pd.Timestamp
    latest: pd.Timestamp
    incidents: pd.DataFrame
    incident: pd.Series | None
    opened: bool  # the focus is the newest incident, chosen because the window held none


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """One connection pool per database for the whole server (read-only: no migration)."""
    return store.connect(url, migrate_schema=False)


def _band(conn: Connection, scope: Scope, span: Span, first: pd.Timestamp) -> pd.DataFrame:
    """Report counts with the detector's band: cached together, the baseline is not recomputed either."""
    return with_band(queries.report_counts(conn, scope, span.step), span, first)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=512)
def cached(name: str, url: str, *args: Any, **kwargs: Any) -> Any:
    """Run `miner.dashboard.queries.<name>(conn, ...)` (or `_band`), cached per arguments for TTL."""
    function = _band if name == "band" else getattr(queries, name)
    with engine(url).connect() as conn:
        return function(conn, *args, **kwargs)


def show_howto(url: str, reason: str) -> None:
    """What to run when there is nothing to show yet, instead of an error."""
    st.title("Outage miner")
    st.info(reason)
    shown = make_url(url).render_as_string(hide_password=True)
    st.markdown(f"""
1. **Import** posts from files: `miner import data/demo/free-fr.csv.gz --service free --source x`
2. **Classify** them: `miner classify --db`
3. **Detect** incidents: `miner detect --db`
4. Or **collect** live posts: `miner collect mastodon --service free` (sources: x, bluesky, mastodon;
   see `miner collect --help`), and classify and detect again from time to time.

Then reload this page. Database: `{escape_markdown(shown)}` (set `MINER_DB_URL` to use another one).
""")


def show_freshness(url: str, version: str | None, tz: str = DEFAULT_TZ) -> None:
    """Sidebar: how recent the data is, which model classified it; live refresh while collecting."""
    latest, ingested = cached("post_time", url), cached("last_ingest", url)
    model = escape_markdown(version or "none yet")
    st.sidebar.caption(f"Newest post: {local_time(latest, tz)}  \nModel: {model}")
    if ingested is not None and datetime.now(UTC) - ingested < LIVE_WITHIN:
        st.sidebar.caption(f":green[●] Collector running: this page refreshes every {REFRESH.seconds} s")
        _refresh_on_new_posts(url, ingested)


@st.fragment(run_every=REFRESH)
def _refresh_on_new_posts(url: str, seen: pd.Timestamp) -> None:
    """Rerun the whole page, with fresh queries, as soon as newer posts are ingested."""
    with engine(url).connect() as conn:
        newest = queries.last_ingest(conn)
    if newest is not None and newest > seen:
        cached.clear()
        st.rerun(scope="app")


def _pick_filters(url: str) -> tuple[Filters, str]:
    """Sidebar filters: service, language, outage type, time zone."""
    names = cached("services", url)
    linked = st.query_params.get("service")  # ?service=free: a shareable link, e.g. from an alert
    default = names.index(linked if linked in names else cached("latest_service", url))
    service = st.sidebar.selectbox("Service", names, index=default, key="service")
    lang = st.sidebar.radio(
        "Language",
        [ALL, *LANGS],
        format_func=lambda code: LANG_NAMES.get(code, code),
        horizontal=True,
        key="lang",
    )
    kind = st.sidebar.selectbox("Outage type", [ALL, *TYPES], key="type")
    tz = st.sidebar.selectbox("Time zone", TIME_ZONES, index=TIME_ZONES.index(DEFAULT_TZ), key="tz")
    return Filters(service, lang, kind), tz


def _pick_window(first: pd.Timestamp, latest: pd.Timestamp, tz: str) -> Span:
    """Sidebar window: the last 24 h / 7 d / 30 d before the newest post, everything, or dates."""
    choice = st.sidebar.radio("Window", list(WINDOWS), horizontal=True, key="window")
    days = None
    if choice == CUSTOM:
        low, high = first.tz_convert(tz).date(), latest.tz_convert(tz).date()
        picked = st.sidebar.date_input(
            "Dates",
            value=(max(low, high - timedelta(days=6)), high),
            min_value=low,
            max_value=high,
            key="days",
        )
        days = tuple(picked) if isinstance(picked, tuple) and len(picked) == 2 else None
    return window_span(choice, first, latest, days, tz)


def _pick_incident(incidents: pd.DataFrame, tz: str, span: Span) -> pd.Series | None:
    """Sidebar focus: the whole window or one incident (the history table's selection lands here too).
    The first run focuses on ?incident=ID, else on the newest incident when the window holds none."""
    ids = [None, *incidents["id"].tolist()]
    if "incident" not in st.session_state:
        linked = st.query_params.get("incident", "")
        opened = incident_to_open(incidents, span)
        st.session_state["incident"] = int(linked) if linked.isdigit() else opened
        st.session_state[OPENED] = None if linked.isdigit() else opened
    if st.session_state.get("incident") not in ids:
        st.session_state["incident"] = None
    labels = {row.id: incident_label(row, tz) for row in incidents.itertuples()}
    chosen = st.sidebar.selectbox(
        "Focus", ids, key="incident", format_func=lambda i: "Whole window" if i is None else labels[i]
    )
    if chosen != st.session_state.get(OPENED):  # the user chose: no more "showing the newest incident"
        st.session_state[OPENED] = None
    return None if chosen is None else incidents.set_index("id").loc[chosen]


def show_filters(url: str, version: str) -> View:
    """All sidebar choices, turned into the view the panels render."""
    filters, tz = _pick_filters(url)
    first = cached("post_time", url, filters.service, first=True)
    latest = cached("post_time", url, filters.service)
    span = _pick_window(first, latest, tz)
    incidents = cached("service_incidents", url, filters.service, version)
    incident = _pick_incident(incidents, tz, span)
    if incident is not None:
        span = incident_span(incident["start"], incident["end"])
        focus = Scope(version, filters, incident["start"], incident["end"] + INCIDENT_BIN)
    else:
        focus = Scope(version, filters, span.start, span.end)
    opened = incident is not None and incident.name == st.session_state.get(OPENED)
    return View(url, version, filters, tz, span, focus, first, latest, incidents, incident, opened)


def show_status(view: View) -> None:
    """Banner: the detector's state at the newest post, with since when."""
    state = current_status(view.incidents, view.latest)
    banner, text = BANNERS[state.level]
    since = f" since {local_time(state.since, view.tz)}" if state.since is not None else ""
    banner(text.format(service=escape_markdown(view.filters.service)) + since)
    st.caption(f"As of the newest post, {local_time(view.latest, view.tz)}.")


def show_volume(view: View) -> None:
    """Outage reports per bin with the expected level and usual range; the same stacked by type."""
    history = Scope(view.version, view.filters, view.span.history_start, view.span.end)
    band = cached("band", view.url, history, view.span, view.first)
    st.subheader("Outage reports")
    if view.opened:
        window = st.session_state.get("window", next(iter(WINDOWS)))
        st.info(f"No incident in the last {window} before the newest post: showing the newest incident.")
    if view.incident is not None:
        origin = incident_origin(view.incident)
        st.caption(
            f"Focused on the incident that started {local_time(view.incident['start'], view.tz)}"
            f"{f' ({origin})' if origin else ''}; choose “Whole window” under Focus to go back."
        )
    if (
        st.radio("View", CHART_VIEWS, horizontal=True, label_visibility="collapsed", key="view")
        == CHART_VIEWS[0]
    ):
        chart = volume_chart(band, view.incidents, view.span.step, view.tz)
    else:
        chart = types_chart(band, view.span.step, view.tz)
    st.vega_lite_chart(
        spec=chart, width="stretch"
    )  # one chart at a time: half the work for server and browser
    st.caption(
        f"{plural(int(band['reports'].sum()), 'report')}. Dashed line: expected level; grey band: usual "
        f"range, learnt from the previous {HISTORY.days} days. Shaded: incidents."
    )


def show_problems(view: View, columns: dict[str, Any]) -> None:
    """What fails and where it is seen, side by side (one column each): each type's share of the reports
    in focus, as Downdetector shows "App 57 % / Website 37 %"."""
    counts = cached("type_counts", view.url, view.focus)
    for kind, shares in kind_shares(counts).items():
        with columns[kind]:
            st.subheader(KIND_TITLES[kind])
            show_kind(shares, int(counts["reports"]))


def show_kind(shares: pd.DataFrame, reports: int) -> None:
    """One kind's breakdown: a summary line, then a bar per type."""
    if not reports:
        st.info("No outage report in this period.")
        return
    if shares.empty:
        st.caption(f"None of the {plural(reports, 'report')} names one.")
        return
    st.markdown(", ".join(f"{r.type} {percent(r.share)} ({r.reports:,})" for r in shares.itertuples()))
    for row in shares.itertuples():
        st.progress(min(float(row.share), 1.0), text=f"{row.type}: {percent(row.share)}")
    st.caption(f"Share of the {plural(reports, 'report')} in focus; a report may name several.")


def _quote_caption(row: Any, tz: str) -> str:
    """Time, language, types, author (only a real handle) and a link to the original post."""
    kinds = ", ".join(t for t in TYPES if getattr(row, f"t_{t}")) or "unspecified"
    parts = [local_time(row.created_at, tz), escape_markdown(row.lang or "?"), kinds]
    if (name := handle(row.author)) is not None:
        parts.append(escape_markdown(f"@{name}"))
    if (link := safe_url(row.url)) is not None:
        parts.append(f"[original ↗]({link})")
    return " · ".join(parts)


def show_quotes(view: View) -> None:
    """A handful of telling, different posts; their text is untrusted and shown escaped."""
    st.subheader("What people say")
    chosen = pick(cached("quote_candidates", view.url, view.focus))
    if chosen.empty:
        st.info("No outage report in this period.")
    for row in chosen.itertuples():
        with st.container(border=True):
            st.markdown(escape_markdown(row.text))
            st.caption(_quote_caption(row, view.tz))


def _reports_csv(eng: Engine, scope: Scope) -> bytes:
    """The filtered reports as CSV, built only when the download is clicked (no pseudonyms)."""
    with eng.connect() as conn:
        frame = queries.reports(conn, scope)
    return to_csv(frame.assign(author=frame["author"].map(lambda a: handle(a) or "")))


def _select_incident(ids: list[int]) -> None:
    """Table row selection -> the Focus selector (runs before the rerun, so the selector follows)."""
    rows = st.session_state["incident_table"].selection.rows
    st.session_state["incident"] = ids[rows[0]] if rows else None


def show_incidents(view: View) -> None:
    """Incident history (select a row to focus on it) and CSV downloads."""
    st.subheader("Incident history")
    if view.incidents.empty:
        st.info("No incident detected for this service (run `miner detect --db` after classifying).")
    else:
        st.dataframe(
            incident_table(view.incidents, view.tz),
            hide_index=True,
            key="incident_table",
            on_select=functools.partial(_select_incident, view.incidents["id"].tolist()),
            selection_mode="single-row",
        )
    left, right = st.columns(2)
    name = view.filters.service
    left.download_button(
        "Incidents (CSV)",
        to_csv(incidents_export(view.incidents)),
        file_name=f"incidents-{name}.csv",
        mime="text/csv",
        on_click="ignore",
    )
    right.download_button(
        "Outage reports in focus (CSV)",
        functools.partial(_reports_csv, engine(view.url), view.focus),
        file_name=f"reports-{name}.csv",
        mime="text/csv",
        on_click="ignore",
    )


def main() -> None:
    """Lay out the page; explain what to run when the store has nothing to show."""
    st.set_page_config(page_title="Outage miner", page_icon="📡", layout="wide")
    url = store.db_url()
    st.sidebar.title("Outage miner")
    try:
        with engine(url).connect() as conn:  # not cached: the page must notice the first import at once
            empty = not queries.is_ready(conn) or queries.post_time(conn) is None
    except StoreError as exc:  # a wrong MINER_DB_URL, a server down: one line, as the CLI says it
        st.error(escape_markdown(str(exc)))
        return
    if empty:
        show_howto(url, "The database holds no posts yet.")
        return
    version = cached("latest_model_version", url)
    if version is None:
        cached.clear("latest_model_version", url)  # likewise, notice the first classification at once
        show_freshness(url, version)
        show_howto(url, "Posts are stored but none is classified yet: run `miner classify --db`.")
        return
    view = show_filters(url, version)
    show_freshness(url, version, view.tz)
    st.title(f"Is {escape_markdown(view.filters.service)} down?")
    show_status(view)
    show_volume(view)
    what, where, quotes = st.columns([1, 1, 2])
    show_problems(view, dict(zip(KINDS, (what, where), strict=True)))
    with quotes:
        show_quotes(view)
    show_incidents(view)


main()
