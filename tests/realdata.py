"""Where the real datasets the tests read live: inside the repository, so a bare clone runs every test."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"

FREE_POSTS = DATA / "demo" / "free-fr.csv.gz"
"""Real French posts about Free (see data/demo/SOURCE.md)."""
SPOTIFY_POSTS = DATA / "demo" / "spotify-en.csv.gz"
"""Real English posts to @SpotifyCares (see data/demo/SOURCE.md)."""
NAB = DATA / "nab"
"""NAB realTweets volume series with their labelled windows (see data/nab/SOURCE.md)."""
