"""Live collectors (X, Bluesky and Mastodon search, the Bluesky firehose) and the loop that stores posts.

A `miner watch` loop needs only what is exported here: `load_services` + `build_queries` to know what
to search, `usable_sources` / `build_collectors` to know what can run, and `collect` (one query) or
`collect_queries` (several) to fetch and store; `jetstream_listener` for the firehose, which needs no
query and no account.
"""

from miner.collect.base import Batch, Collector, Page, Reject
from miner.collect.policy import RetryPolicy
from miner.collect.run import (
    CollectSummary,
    build_collectors,
    collect,
    collect_queries,
    jetstream_listener,
    missing_credentials,
    usable_sources,
)
from miner.services import Query, build_queries, load_services

__all__ = [
    "Batch",
    "CollectSummary",
    "Collector",
    "Page",
    "Query",
    "Reject",
    "RetryPolicy",
    "build_collectors",
    "build_queries",
    "collect",
    "collect_queries",
    "jetstream_listener",
    "load_services",
    "missing_credentials",
    "usable_sources",
]
