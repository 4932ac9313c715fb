"""Merge the labelled parts into data/labeled/corpus.jsonl with a fixed, author-grouped split.

Run from the repository root: python data/labeled/build_corpus.py
The split is a pure function of the author key, so adding posts never moves an existing
author between train and test. `corrections_*.jsonl` hold a second reader's audit: each line
replaces one post's types (with the old types and the reason kept for the record).
`reserve/` holds labelled posts kept out of the corpus (see CONVENTIONS.md); they are not read here.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from miner.labels import split_of

HERE = Path(__file__).parent
FIELDS = ("id", "text", "lang", "types", "origin", "author", "split")


def corrections() -> dict[str, list[str]]:
    """Audited types by post id, from every corrections file."""
    fixes: dict[str, list[str]] = {}
    for path in sorted(HERE.glob("corrections_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            fix = json.loads(line)
            fixes[fix["id"]] = fix["types"]
    return fixes


def build() -> list[dict[str, Any]]:
    """The corpus rows: every part's posts (first occurrence of an id wins), audited types, the split."""
    rows, seen, fixes = [], set(), corrections()
    for part in sorted((HERE / "parts").glob("*.jsonl")):
        for line in part.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if rec["id"] in seen:
                continue
            seen.add(rec["id"])
            rec["types"] = sorted(set(fixes.get(rec["id"], rec["types"])))
            rec["split"] = split_of(rec["author"])
            rows.append({k: rec[k] for k in FIELDS})
    return rows


def main() -> None:
    rows = build()
    with (HERE / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for rec in rows:
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    stats = Counter((r["lang"], r["split"]) for r in rows)
    print(f"{len(rows)} posts", dict(stats), Counter(r["origin"] for r in rows))
    for lang in ("fr", "en"):
        types = Counter(t for r in rows if r["lang"] == lang for t in r["types"])
        print(lang, dict(sorted(types.items())))


if __name__ == "__main__":
    main()
