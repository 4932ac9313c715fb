"""outage-miner dashboard: is a service down, since when, what breaks, what people say.

    streamlit run app.py          # reads MINER_DB_URL, default sqlite:///data/miner.db

The sidebar's pages, named for people rather than after their files: Dashboard (pages/dashboard.py, one
service), Overview (pages/overview.py, what is down now across services) and Review (pages/review.py,
analysts' corrections).
"""

import streamlit as st

PAGES = [
    st.Page("pages/dashboard.py", title="Dashboard", icon="📡", default=True),
    st.Page("pages/overview.py", title="Overview", icon="🌐"),
    st.Page("pages/review.py", title="Review", icon="📝"),
]

st.navigation(PAGES).run()
