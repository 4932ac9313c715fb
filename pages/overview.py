"""What is down now: every watched service on one page, worst first, each linked to its own page.

    streamlit run app.py          # then "Overview" in the sidebar, or http://127.0.0.1:8501/overview

Each service shows its state (ok / possible / outage, from the detector's incidents), its outage reports in
the last hour against the usual level for that hour, its reports per hour over the last day, and the type
most of them name (`miner.dashboard.overview`). One `show_*` function per panel, as on the Dashboard page.
The board is cached for a minute and redrawn every minute, so a running collector shows up without a reload.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from miner import store
from miner.breakdown import percent
from miner.dashboard import queries
from miner.dashboard.charts import sparkline
from miner.dashboard.overview import Standing, standings
from miner.dashboard.quotes import escape_markdown
from miner.dashboard.summary import local_time, plural
from miner.errors import MinerError
from miner.feedback import DEFAULT_TZ
from miner.services import load_services

SERVICE_PAGE = "pages/dashboard.py"  # the per-service page; it opens on the service of ?service=NAME
TTL = timedelta(seconds=60)
STATES = {
    "outage": ":red[● **outage**]",
    "possible": ":orange[● **possible problems**]",
    "ok": ":green[● ok]",
}
HEADINGS = ("Service", "State", "Last hour", "Reports per hour, last 24 h", "Most reported")
WIDTHS = (3, 3, 3, 5, 2)

Services = tuple[tuple[str, str], ...]


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """One connection pool per database for the whole server (read-only: no migration)."""
    return store.connect(url, migrate_schema=False)


@st.cache_data(ttl=TTL, show_spinner=False)
def board(url: str, services: Services) -> tuple[pd.Timestamp | None, str | None, list[Standing]]:
    """The newest post's time, the model version read, and every service's standing as of that time."""
    with engine(url).connect() as conn:
        now = queries.post_time(conn) if queries.is_ready(conn) else None
        version = None if now is None else queries.latest_model_version(conn)
        if now is None or version is None:
            return now, version, []
        return now, version, standings(conn, services, version, now)


def watched() -> tuple[Services, str | None]:
    """(name, display) of each service in the services file, or why the file cannot be read."""
    try:
        return tuple((s.name, s.display) for s in load_services().services), None
    except MinerError as exc:
        return (), f"{exc}: showing the services the store holds"


def show_standing(row: Standing, tz: str) -> None:
    """One service: link to its page, state, last hour against usual, sparkline, top type."""
    name, state, hour, day, top = st.columns(WIDTHS, vertical_alignment="center")
    name.page_link(SERVICE_PAGE, label=escape_markdown(row.display), query_params={"service": row.service})
    since = row.status.since if row.status.level != "ok" else None
    state.markdown(
        STATES[row.status.level] + (f"  \nsince {local_time(since, tz)}" if since is not None else "")
    )
    if row.trend.empty:
        hour.markdown("–")
        day.caption("no posts yet")
    else:
        hour.markdown(f"**{plural(row.reports, 'report')}**  \nusual {row.usual:.1f} · ×{row.ratio:.1f}")
        day.vega_lite_chart(spec=sparkline(row.trend, row.status.level, tz), width="stretch")
    top.markdown(f"{row.top_type} {percent(row.top_share)}" if row.top_type else "–")


@st.fragment(run_every=TTL)
def show_board(url: str, services: Services, tz: str = DEFAULT_TZ) -> None:
    """Every service, worst first; or what to run when there is nothing to rank yet."""
    now, version, rows = board(url, services)
    if now is None:
        st.info(
            "The database holds no posts yet. Listen with no account: `make live` (or "
            "`miner watch --source jetstream`); the first reports show within minutes."
        )
        return
    if version is None:
        st.info(
            "Posts are stored but none is classified yet: run `miner classify --db` (`miner watch` does)."
        )
        return
    st.caption(f"As of the newest post, {local_time(now, tz)}. Worst first: state, then the last hour "
               "against the level usual for that hour, learnt from the previous four weeks.")  # fmt: skip
    for column, heading in zip(st.columns(WIDTHS), HEADINGS, strict=True):
        column.caption(heading)
    for row in rows:
        with st.container(border=True):
            show_standing(row, tz)


def main() -> None:
    st.set_page_config(page_title="What is down now", page_icon="📡", layout="wide")
    st.title("What is down now")
    services, problem = watched()
    if problem:
        st.warning(problem)
    show_board(store.db_url(), services)


main()
