"""`miner labels export` and `miner explain`: reviews as corpus rows, and why a post got its label."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from miner.cli import app

if TYPE_CHECKING:  # the modules behind these load scikit-learn and spaCy: only when a command runs
    from miner.feedback import Explanation

console = Console(stderr=True)
DEFAULT_K = 8  # n-grams per label: enough to see the cue, few enough to read at a glance

labels_app = typer.Typer(
    help="Analysts' reviews as labelled data.\n\n"
    "Example: miner labels export feedback.jsonl && miner train --with-feedback feedback.jsonl",
    no_args_is_help=True,
)
app.add_typer(labels_app, name="labels")


@labels_app.command("export")
def export_cmd(
    out: Annotated[Path, typer.Argument(help="JSONL file to write, in the format of data/labeled.")],
    db_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: $MINER_DB_URL or sqlite:///data/miner.db).")
    ] = None,
) -> None:
    """Write every reviewed post (skips aside) as a corpus row: id fb-<source>-<post_id>, the post's text,
    author and language, the analyst's types, origin "feedback", and the split its author falls in.

    Example: miner labels export feedback.jsonl
    """
    from miner import store
    from miner.feedback import export

    with store.connect(db_url).connect() as conn:
        records = export(conn, out)
    on_test = sum(r["split"] == "test" for r in records)
    console.print(
        f"{len(records):,} reviewed posts written to {out}; {on_test:,} are by test-split authors, "
        "which training leaves out.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _printable(text: str) -> str:
    """Post text shown in a terminal: control characters escaped, so they cannot drive it."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def explanation_lines(explanation: Explanation) -> list[str]:
    """The verdict, the types with their probabilities, and per label the n-grams that moved it most."""
    p, thresholds = explanation.prediction, explanation.thresholds
    verdict = "outage report" if p.is_outage else "not an outage report"
    lines = [
        f"{verdict}: outage probability {p.outage_prob:.3f} (threshold {thresholds['outage']:.2f}), "
        f"language {p.lang}",
        "types: " + (", ".join(f"{t} {p.type_probs[t]:.3f}" for t in p.types) or "none"),
    ]
    for label, grams in explanation.reasons.items():
        lines.append(f"why {label} (contribution to its log-odds):")
        lines += [f"  {weight:+.3f}  {_printable(gram)}" for gram, weight in grams]
    return lines


@app.command("explain")
def explain_cmd(
    text: Annotated[str, typer.Argument(help="The post to explain.")],
    model: Annotated[
        Path | None,
        typer.Option(help="Model version folder (default: $MINER_MODEL_DIR, else models/DEFAULT)."),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="N-grams to show per label.")] = DEFAULT_K,
) -> None:
    """Say whether a post is an outage report, of which types, and which of its word and character
    n-grams pushed each decision most (positive: towards the label).

    Example: miner explain "plus d'internet depuis ce matin" --k 5
    """
    from miner.classify import load_model
    from miner.feedback import explain

    typer.echo("\n".join(explanation_lines(explain(load_model(model), text, k))))
