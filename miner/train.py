"""Train, evaluate and write a versioned outage model; `miner train` (miner.cli.model) is its command line.

The work is a chain of steps, each declaring what it reads and writes (explosion/projects style):
load -> [feedback] -> cross_validate (every set-up, grouped by author) -> select -> fit (calibration and
thresholds from out-of-fold predictions, then all of train) -> evaluate (the fixed test split) -> write.
Set-ups are chosen on cross-validation only; the test split is read once, to report. The feedback step,
run only when analysts' corrections are given (`miner labels export`), adds them to train, never to test.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from miner.classify import OutageModel, label_matrix, prepare, save_model
from miner.errors import BadInput
from miner.evaluate import evaluate_day
from miner.feedback import for_training
from miner.labels import CORPUS_DIR, KIND_TITLES, KINDS, LABELS, LANGS, TYPES
from miner.modelfile import DEFAULT_POINTER, MODEL_FILE, MODELS_DIR
from miner.predict import decide

CORPUS_FILE = "corpus.jsonl"
CORRECTIONS_GLOB = "corrections_*.jsonl"  # second readings and guide revisions applied by build_corpus.py
DEVDAY_FILE = Path(__file__).resolve().parents[1] / "data" / "devday" / "x-outage-day.jsonl"
"""The written outage day: development figures for the card, never training data."""
LABELLED_FIELDS = ("id", "text", "lang", "types", "author", "split")  # what training reads of a labelled row
# Outer folds for comparing set-ups; each fold's fit runs its own inner folds for calibration and
# thresholds, so these scores are honest out-of-sample figures, not the ones the thresholds were tuned on.
CV_FOLDS = 5
# The set-ups compared on cross-validation. C values come from a coarse sweep on the same folds.
# Every set-up pools 3 repeats of its inner folds for calibration and thresholds: on the 2026-12-06
# corpus, outage F1 on the test split then moved by 0.001 between seeds (0.007 with one repeat) and type
# macro-F1 rose by 0.01-0.02. Word n-grams alone, 0.01-0.02 behind the others on every corpus so far, are
# no longer compared.
SETUPS: dict[str, dict[str, Any]] = {
    "logreg-word+char": {"model": "logreg", "C": 30.0, "char_ngrams": (2, 5), "cv_repeats": 3},
    "svm-word+char": {"model": "svm", "C": 0.5, "char_ngrams": (2, 5), "cv_repeats": 3},
    "nb-logreg-word+char": {
        "model": "logreg",
        "C": 10.0,
        "char_ngrams": (2, 5),
        "nb_weighting": True,
        "cv_repeats": 3,
    },
}

# Authors with more posts than this are split into chunks of this size for cross-validation. Grouping
# keeps one person's near-duplicate posts out of the fold that scores them; but the one prolific author,
# Free's support account (140 templated replies), is a regular whose templates the deployed model knows,
# and holding all of it out at once makes out-of-fold scores, calibration and thresholds fight an unseen
# template that the test split (and production) never presents unseen.
MAX_GROUP_POSTS = 10

# Objective gap under which two set-ups are reported as a tie: the objective's standard deviation between
# folds is ~0.03 on this corpus, so a gap of a few thousandths is noise.
TIE_MARGIN = 0.005
# What the issue asked of the test split, per language; metrics.json and the card report against them.
TARGETS = {"outage_f1": 0.90, "type_macro_f1": 0.80}
METRICS_FILE = "metrics.json"
CARD_FILE = "MODEL_CARD.md"

ProgressFn = Callable[[str, int, int], None]
"""(what, done, total): called as a long step advances."""


def load_corpus(data_dir: Path) -> pd.DataFrame:
    """The labelled corpus (see data/labeled/GUIDE.md) of a data folder."""
    return read_labelled(data_dir / CORPUS_FILE)


def read_labelled(path: Path) -> pd.DataFrame:
    """Labelled rows in the corpus format (the corpus, or exported feedback); one-line errors for a
    missing or broken file."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    try:
        rows = pd.read_json(path, lines=True, dtype={"id": str, "author": str})
    except ValueError as exc:
        raise BadInput(f"{path}: not a valid JSONL corpus ({exc})") from exc
    missing = set(LABELLED_FIELDS) - set(rows.columns)
    if missing:
        raise BadInput(f"{path}: missing fields {', '.join(sorted(missing))}")
    unknown = {t for types in rows["types"] for t in types} - set(TYPES)
    if unknown:
        raise BadInput(f"{path}: unknown types {', '.join(sorted(unknown))}")
    return rows


def version_name(
    data_dir: Path, seed: int, today: datetime | None = None, feedback: Path | None = None
) -> str:
    """`outage-YYYYMMDD-<hash>`: the hash covers the corpus (and feedback) bytes, the set-ups and the seed,
    so the same inputs name the same version and any change names a new one."""
    digest = hashlib.sha256((data_dir / CORPUS_FILE).read_bytes())
    if feedback is not None:
        digest.update(feedback.read_bytes())
    digest.update(json.dumps([SETUPS, CV_FOLDS, MAX_GROUP_POSTS, seed], sort_keys=True).encode())
    return f"outage-{(today or datetime.now(UTC)):%Y%m%d}-{digest.hexdigest()[:8]}"


def _prf(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float | int]:
    """Precision, recall, F1 and confusion counts of one binary decision."""
    tp = int((truth & predicted).sum())
    fp = int((~truth & predicted).sum())
    fn = int((truth & ~predicted).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    tn = len(truth) - tp - fp - fn
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def scores(Y: np.ndarray, decisions: np.ndarray) -> dict[str, Any]:
    """Outage-vs-not and per-type scores, with type macro-F1 over all types and over each kind ("what",
    "where"); a type is right only when the outage decision let it through."""
    types = {label: _prf(Y[:, j], decisions[:, j]) for j, label in enumerate(LABELS) if j > 0}
    return {
        "posts": len(Y),
        "outage": _prf(Y[:, 0], decisions[:, 0]),
        "types": types,
        "type_macro_f1": float(np.mean([s["f1"] for s in types.values()])),
        "kind_macro_f1": {
            kind: float(np.mean([types[label]["f1"] for label in labels])) for kind, labels in KINDS.items()
        },
    }


def scores_by_lang(Y: np.ndarray, decisions: np.ndarray, langs: Sequence[str]) -> dict[str, Any]:
    """Scores overall and for each trained language."""
    langs = np.asarray(langs)
    out = {"all": scores(Y, decisions)}
    for lang in LANGS:
        out[lang] = scores(Y[langs == lang], decisions[langs == lang])
    return out


def objective(by_lang: dict[str, Any]) -> float:
    """What set-ups are ranked by: the worse language's mean of outage F1 and type macro-F1, so that a
    set-up cannot win on one language while failing the other."""
    return min((by_lang[lang]["outage"]["f1"] + by_lang[lang]["type_macro_f1"]) / 2 for lang in LANGS)


def cv_groups(authors: pd.Series) -> np.ndarray:
    """Fold groups: the author, with prolific authors cut into chunks of MAX_GROUP_POSTS posts."""
    chunk = authors.groupby(authors).cumcount() // MAX_GROUP_POSTS
    return (authors.astype(str) + "#" + chunk.astype(str)).to_numpy()


def _fit(params: dict[str, Any], data: pd.DataFrame, seed: int, version: str = "dev") -> OutageModel:
    model = OutageModel(**params, random_state=seed, version=version)
    return model.fit(data, data["types"].tolist(), groups=cv_groups(data["author"]))


def _decisions(model: OutageModel, data: pd.DataFrame) -> np.ndarray:
    return decide(model.predict_proba(data), model.thresholds_)


def cross_validate(
    params: dict[str, Any], train: pd.DataFrame, seed: int, on_fold: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Grouped out-of-fold scores of one set-up on the train split (prepared rows, see `prepare`)."""
    Y = label_matrix(train["types"].tolist())
    decisions = np.zeros_like(Y)
    folds = StratifiedGroupKFold(CV_FOLDS, shuffle=True, random_state=seed)
    for fit_rows, val_rows in folds.split(train, Y[:, 0], cv_groups(train["author"])):
        model = _fit(params, train.iloc[fit_rows].reset_index(drop=True), seed)
        decisions[val_rows] = _decisions(model, train.iloc[val_rows])
        if on_fold is not None:
            on_fold()
    result = scores_by_lang(Y, decisions, train["lang"])
    result["objective"] = objective(result)
    return result


# ---- the steps -------------------------------------------------------------------------------------------


def _with_text_pipeline(rows: pd.DataFrame) -> pd.DataFrame:
    """Labelled rows plus `norm` and `lemmas`: the text pipeline runs once for every later step (it is the
    slow part)."""
    prepared = prepare(rows["text"].tolist(), rows["lang"].tolist())
    return pd.concat([rows.reset_index(drop=True), prepared[["norm", "lemmas"]]], axis=1)


def step_load(data_dir: Path) -> dict[str, Any]:
    """Read the corpus and run the text pipeline on it."""
    data = _with_text_pipeline(load_corpus(data_dir))
    train, test = (data[data["split"] == s].reset_index(drop=True) for s in ("train", "test"))
    sizes = {
        name: {"all": len(part), **part["lang"].value_counts().to_dict()}
        for name, part in [("train", train), ("test", test)]
    }
    corrections = {
        path.name: len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(data_dir.glob(CORRECTIONS_GLOB))
    }
    return {"train": train, "test": test, "sizes": sizes, "corrections": corrections}


def step_feedback(
    train: pd.DataFrame, test: pd.DataFrame, sizes: dict[str, Any], feedback: Path
) -> dict[str, Any]:
    """Add exported reviews to train: not those of test-side authors, not texts the corpus already has.
    `sizes` gains a "feedback" entry (rows used, per language, and how many were dropped and why)."""
    rows = read_labelled(feedback) if feedback.stat().st_size else pd.DataFrame(columns=LABELLED_FIELDS)
    kept, counts = for_training(_with_text_pipeline(rows), train, test)
    used = {"all": len(kept), **kept["lang"].value_counts().to_dict(), **counts}
    return {"train": pd.concat([train, kept], ignore_index=True), "sizes": {**sizes, "feedback": used}}


def step_cross_validate(train: pd.DataFrame, seed: int, progress: ProgressFn | None) -> dict[str, Any]:
    """Score every set-up of SETUPS on grouped folds of the train split."""
    done, total = 0, len(SETUPS) * CV_FOLDS

    def fold_done() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress("cross-validating set-ups (folds)", done, total)

    return {"cv": {name: cross_validate(params, train, seed, fold_done) for name, params in SETUPS.items()}}


def step_select(cv: dict[str, Any]) -> dict[str, Any]:
    """Keep the set-up with the best cross-validated objective (the test split plays no part)."""
    return {"setup": max(cv, key=lambda name: cv[name]["objective"])}


def step_fit(train: pd.DataFrame, setup: str, seed: int, version: str) -> dict[str, Any]:
    """Fit the kept set-up on all of train; calibration and thresholds come from its own inner folds."""
    return {"model": _fit(SETUPS[setup], train, seed, version)}


def step_evaluate(model: OutageModel, test: pd.DataFrame) -> dict[str, Any]:
    """Score the fitted model on the fixed test split, overall and per language."""
    Y = label_matrix(test["types"].tolist())
    return {"test_scores": scores_by_lang(Y, _decisions(model, test), test["lang"])}


def step_write(out: Path, model: OutageModel, metrics: dict[str, Any]) -> dict[str, Any]:
    """Write model.skops, metrics.json and MODEL_CARD.md into the version folder."""
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out / MODEL_FILE)
    (out / METRICS_FILE).write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / CARD_FILE).write_text(model_card(metrics), encoding="utf-8")
    return {"files": [out / MODEL_FILE, out / METRICS_FILE, out / CARD_FILE]}


def step_devday(model: OutageModel) -> dict[str, Any]:
    """Run the written outage day (data/devday, development only) through import, classify and detect with
    the fitted model: outage F1 and each type's share of reports during the outage (None without the file)."""
    if not DEVDAY_FILE.is_file():
        return {"devday": None}
    with tempfile.TemporaryDirectory() as tmp:
        return {"devday": evaluate_day(DEVDAY_FILE, f"sqlite:///{tmp}/day.db", model)}


def step_metrics(
    model: OutageModel,
    setup: str,
    cv: dict[str, Any],
    test_scores: dict[str, Any],
    sizes: dict[str, Any],
    corrections: dict[str, int],
    devday: dict[str, Any] | None,
    seed: int,
) -> dict[str, Any]:
    """Everything metrics.json and the model card report."""
    return {
        "metrics": {
            "version": model.version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seed": seed,
            "setup": {"name": setup, "params": model.get_params()},
            "corpus_sizes": sizes,
            "label_corrections": corrections,
            "thresholds": dict(zip(LABELS, model.thresholds_.round(4).tolist(), strict=True)),
            "test": test_scores,
            "cv": cv,
            "devday": devday,
            "targets": TARGETS,
        }
    }


@dataclass(frozen=True)
class Step:
    """One step of the chain: the context keys it reads and the ones it adds."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    run: Callable[..., dict[str, Any]]


STEPS: tuple[Step, ...] = (
    Step("load", ("data_dir",), ("train", "test", "sizes", "corrections"), step_load),
    Step("cross_validate", ("train", "seed", "progress"), ("cv",), step_cross_validate),
    Step("select", ("cv",), ("setup",), step_select),
    Step("fit", ("train", "setup", "seed", "version"), ("model",), step_fit),
    Step("evaluate", ("model", "test"), ("test_scores",), step_evaluate),
    Step("devday", ("model",), ("devday",), step_devday),
    Step(
        "metrics",
        ("model", "setup", "cv", "test_scores", "sizes", "corrections", "devday", "seed"),
        ("metrics",),
        step_metrics,
    ),
    Step("write", ("out", "model", "metrics"), ("files",), step_write),
)


FEEDBACK_STEP = Step("feedback", ("train", "test", "sizes", "feedback"), ("train", "sizes"), step_feedback)
"""Runs right after "load" when corrections are given; it replaces train and sizes with extended ones."""


def steps_for(feedback: Path | None) -> tuple[Step, ...]:
    """The chain to run: STEPS, with the feedback step after "load" when there is feedback."""
    return STEPS if feedback is None else (STEPS[0], FEEDBACK_STEP, *STEPS[1:])


def run_steps(
    context: dict[str, Any], steps: Sequence[Step] = STEPS, on_step: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run the steps in order, checking each one's declared inputs and outputs."""
    for step in steps:
        missing = [key for key in step.inputs if key not in context]
        if missing:
            raise RuntimeError(f"step {step.name} needs {', '.join(missing)}, which no earlier step made")
        if on_step is not None:
            on_step(step.name)
        produced = step.run(**{key: context[key] for key in step.inputs})
        if set(produced) != set(step.outputs):
            raise RuntimeError(f"step {step.name} made {sorted(produced)}, declared {list(step.outputs)}")
        context.update(produced)
    return context


def train(
    data_dir: Path = CORPUS_DIR,
    out: Path | None = None,
    *,
    force: bool = False,
    seed: int = 0,
    progress: ProgressFn | None = None,
    on_step: Callable[[str], None] | None = None,
    feedback: Path | None = None,
) -> dict[str, Any]:
    """Train and write a model version; returns the run's context (metrics, paths, model).

    `feedback`: a `miner labels export` file whose rows join the train split (see `step_feedback`)."""
    for needed in (data_dir / CORPUS_FILE, feedback):
        if needed is not None and not needed.is_file():
            raise BadInput(f"{needed}: no such file")
    version = version_name(data_dir, seed, feedback=feedback) if out is None else out.name
    out = MODELS_DIR / version if out is None else out
    if out.exists() and not force:
        raise BadInput(f"{out} already exists; pass --force to overwrite it")
    context = {"data_dir": data_dir, "out": out, "seed": seed, "version": version, "progress": progress}
    return run_steps({**context, "feedback": feedback}, steps=steps_for(feedback), on_step=on_step)


def set_default(out: Path) -> Path:
    """Point models/DEFAULT at a version folder inside models/ so `load_model()` picks it."""
    if out.resolve().parent != MODELS_DIR.resolve():
        raise BadInput(f"{out} is not inside {MODELS_DIR}; only a version folder there can be the default")
    pointer = MODELS_DIR / DEFAULT_POINTER
    pointer.write_text(out.name + "\n", encoding="utf-8")
    return pointer


# ---- the model card ----------------------------------------------------------------------------------------

WEAKNESSES = """\
- Many real posts are replies inside a support thread ("Incognito does work", "still the same"): their label
  depends on the brand's replies, which the data does not hold (the customer's own earlier tweet, where TWCS
  links it, does not help: `bench/ceilings.py`), so they cap what any per-post model reaches.
- Type macro-F1 would stay near 0.77 per language even with perfect outage detection, and the learning curve
  is flat from 75 % of the train split on (`bench/ceilings.py`): more posts of the same kind will not lift it.
- English real posts all come from one support account's mentions (Spotify, 2017-2018) and French ones from
  tweets about one ISP (Free); other services only appear in the smaller set of written posts.
- A blind second reading of the 1,244 posts the test split held on 2026-11-25 agreed with the first at
  outage F1 0.97 (fr) / 0.96 (en) and type macro-F1 0.90 / 0.92; a third reader settled the 83 posts in
  dispute. People agree far more often than this model matches them: the gap is the model's, not the labels'.
- `other` is a residual class ("none of the above"), the hardest for a bag of n-grams.
- Past or resolved outages ("ça remarche", "works now") and brand replies quoting an outage word are the
  usual false positives; sarcasm and very short follow-ups the usual misses.
"""


def _pct(value: float) -> str:
    return f"{value:.3f}"


def _setups_section(metrics: dict[str, Any]) -> list[str]:
    cv, kept = metrics["cv"], metrics["setup"]["name"]
    lines = [
        f"## Set-ups compared (grouped {CV_FOLDS}-fold cross-validation on train)",
        "",
        "| set-up | params | fr outage F1 | fr type macro-F1 | en outage F1 | en type macro-F1 | objective |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in cv.items():
        cells = [
            _pct(v) for lang in LANGS for v in (result[lang]["outage"]["f1"], result[lang]["type_macro_f1"])
        ]
        lines.append(
            f"| {name} | `{json.dumps(SETUPS[name])}` | {' | '.join(cells)} | {_pct(result['objective'])} |"
        )
    others = ", ".join(f"{name} {cv[name]['objective']:.4f}" for name in cv if name != kept)
    lines += [
        "",
        f"Kept **{kept}**: the highest objective ({cv[kept]['objective']:.4f}; {others}). The objective "
        "is the worse language's mean of outage F1 and type macro-F1, so a set-up cannot win on one language "
        "while failing the other. The test split played no part in this choice.",
        *_near_ties(cv, kept),
        "",
    ]
    return lines


def _near_ties(cv: dict[str, Any], kept: str) -> list[str]:
    """Say so when another set-up scored within fold noise of the kept one: the choice is then a coin."""
    close = [
        name for name in cv if name != kept and cv[kept]["objective"] - cv[name]["objective"] < TIE_MARGIN
    ]
    if not close:
        return []
    return [
        f"{', '.join(close)} scored within {TIE_MARGIN} of it, less than the spread between folds: "
        "on this data they are equivalent, and the rule (highest objective) simply picked one."
    ]


def _test_section(metrics: dict[str, Any]) -> list[str]:
    test, targets = metrics["test"], metrics["targets"]
    lines = [
        "## Test split (fixed, grouped by author, never used for a choice)",
        "",
        "| lang | posts | outage P | outage R | outage F1 | type macro-F1 | "
        + " | ".join(f"{kind} macro-F1" for kind in KINDS)
        + " | tp/fp/fn/tn | targets met |",
        "|---" * (8 + len(KINDS)) + "|",
    ]
    for lang in ("all", *LANGS):
        s = test[lang]
        o = s["outage"]
        met = o["f1"] >= targets["outage_f1"] and s["type_macro_f1"] >= targets["type_macro_f1"]
        confusion = f"{o['tp']}/{o['fp']}/{o['fn']}/{o['tn']}"
        kinds = " | ".join(_pct(s["kind_macro_f1"][kind]) for kind in KINDS)
        lines.append(
            f"| {lang} | {s['posts']} | {_pct(o['precision'])} | {_pct(o['recall'])} | {_pct(o['f1'])} | "
            f"{_pct(s['type_macro_f1'])} | {kinds} | {confusion} | {'yes' if met else 'no'} |"
        )
    lines += [
        "",
        "Per label (a type counts as right only when the post was also called an outage report):",
        "",
    ]
    lines += [
        "| label | "
        + " | ".join(f"{lang} P | {lang} R | {lang} F1 | {lang} support" for lang in LANGS)
        + " |"
    ]
    lines += ["|---" * (1 + 4 * len(LANGS)) + "|"]
    for label in LABELS:
        cells = []
        for lang in LANGS:
            s = test[lang]["outage"] if label == "outage" else test[lang]["types"][label]
            cells += [_pct(s["precision"]), _pct(s["recall"]), _pct(s["f1"]), str(s["tp"] + s["fn"])]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    return [*lines, ""]


def model_card(metrics: dict[str, Any]) -> str:
    """MODEL_CARD.md: data, labels, model, set-ups compared, test metrics per language and label."""
    sizes, setup = metrics["corpus_sizes"], metrics["setup"]
    thresholds = ", ".join(f"{label} {value:.2f}" for label, value in metrics["thresholds"].items())
    chars = " and character n-grams of the normalised text" if setup["params"]["char_ngrams"] else ""
    nb = " scaled, for each label, by their NB log-count ratio" if setup["params"]["nb_weighting"] else ""
    lines = [
        f"# Outage model {metrics['version']}",
        "",
        f"Trained {metrics['created_at']} by `miner train --seed {metrics['seed']}` from "
        f"`{CORPUS_DIR / CORPUS_FILE}`. Load it with `miner.classify.load_model()`.",
        "",
        "## Data and labels",
        "",
        "| split | posts | fr | en | other |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | {s['all']} | {s.get('fr', 0)} | {s.get('en', 0)} | {s.get('other', 0)} |"
            for name, s in sizes.items()
        ),
        "",
        "French real posts are lower-cased tweets about the ISP Free, English real posts tweets to Spotify's "
        "support account; written posts cover social networks and other services (streaming, ISPs, mobile "
        "networks, games, banks). The split is fixed and grouped by author.",
        "Labels (data/labeled/GUIDE.md): outage report or not, and its types, several allowed, of two kinds: "
        + "; ".join(f"{KIND_TITLES[kind].lower()} ({', '.join(labels)})" for kind, labels in KINDS.items())
        + ". A report takes every type it states, of both kinds.",
        *_corrections_lines(metrics.get("label_corrections", {})),
        "",
        "## Model",
        "",
        f"Set-up **{setup['name']}** (`{json.dumps(SETUPS[setup['name']])}`): word n-grams of spaCy lookup "
        f"lemmas{chars} (TF-IDF{nb}), one linear model per label; the type "
        "models learn from outage reports only. Decision values are Platt-calibrated and per-label "
        "thresholds chosen for F1 on grouped out-of-fold predictions of train. An outage report with no "
        "type over its threshold gets its most probable type. Folds group posts by author, except that an "
        f"author with more than {MAX_GROUP_POSTS} posts (Free's support account) is cut into chunks of "
        f"{MAX_GROUP_POSTS}.",
        "",
        f"Thresholds: {thresholds}.",
        "",
        *_setups_section(metrics),
        *_test_section(metrics),
        *_devday_section(metrics.get("devday")),
        "## Known weaknesses",
        "",
        *_target_misses(metrics),
        _support_line(metrics),
        WEAKNESSES,
    ]
    return "\n".join(lines)


def _corrections_lines(corrections: dict[str, int]) -> list[str]:
    """What later readings changed in the labels, file by file (see data/labeled/CONVENTIONS.md)."""
    if not corrections:
        return []
    files = ", ".join(f"`{name}` {count:,} posts" for name, count in corrections.items())
    return [
        f"Labels changed by later readings ({files}): second readings of the test split and of hard "
        "posts, and `corrections_where.jsonl`, the revision that made `app` and `website` say where a "
        "failure of any kind is seen (data/labeled/relabel_where/README.md)."
    ]


def _devday_section(devday: dict[str, Any] | None) -> list[str]:
    """The written outage day: outage F1, and each type's share of reports during the outage."""
    if devday is None:
        return []
    f1, shares = devday["outage_f1"], devday["shares"]
    labelled, predicted = shares["labelled"], shares["predicted"]
    lines = [
        "## Written outage day (data/devday, development only, never trained on)",
        "",
        f"Outage F1 {_pct(f1['all'])} (fr {_pct(f1['fr'])}, en {_pct(f1['en'])}). Share of the reports "
        "during the outage that name each type (goal: within 5 points):",
        "",
        "| kind | type | labelled | predicted | error (points) |",
        "|---|---|---|---|---|",
    ]
    for kind, labels in KINDS.items():
        for label in labels:
            a, b = labelled.get(label, 0.0), predicted.get(label, 0.0)
            lines.append(f"| {kind} | {label} | {a:.1%} | {b:.1%} | {(b - a) * 100:+.1f} |")
    return [*lines, ""]


def _support_line(metrics: dict[str, Any]) -> str:
    """How few test posts each type has, which bounds how much its F1 can be trusted."""
    support = [s["tp"] + s["fn"] for lang in LANGS for s in metrics["test"][lang]["types"].values()]
    return (
        f"- Types have {min(support)}-{max(support)} test posts per language: for the smaller ones one post "
        "more or less moves F1 by several points."
    )


def _target_misses(metrics: dict[str, Any]) -> list[str]:
    """A line per language and target missed on the test split, stated first."""
    misses = []
    for lang in LANGS:
        s = metrics["test"][lang]
        for name, value in (("outage_f1", s["outage"]["f1"]), ("type_macro_f1", s["type_macro_f1"])):
            target = metrics["targets"][name]
            if value < target:
                misses.append(
                    f"- Target missed: {lang} {name.replace('_', ' ')} {_pct(value)} < {target:.2f}."
                )
    return misses
