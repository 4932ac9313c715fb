"""The Streamlit dashboard's building blocks: SQL aggregation, time windows, charts, quotes.

`app.py` only wires these to widgets, so everything here is testable without Streamlit.
"""
