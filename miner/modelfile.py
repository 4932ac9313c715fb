"""Where model files live and how they are read safely: skops with an allow-list, never pickle.

Kept apart from miner.classify (scikit-learn, pandas) so that the prediction path (miner.predict) can find
and, the first time, read a model file without importing them; skops itself imports what the file names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from miner.errors import ModelError

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
MODEL_FILE = "model.skops"
DEFAULT_POINTER = "DEFAULT"  # file in MODELS_DIR naming the shipped version
MODEL_DIR_ENV = "MINER_MODEL_DIR"

# skops refuses to load types it does not know; these are the only ones our model adds, checked by name.
ALLOWED_TYPES = frozenset({"miner.classify.OutageModel", "miner.classify.NgramVectorizer"})


def model_file(path: str | Path | None = None) -> Path:
    """The model file to use: `path` (a version folder or its file), else $MINER_MODEL_DIR, else the
    version named in models/DEFAULT."""
    chosen = path or os.environ.get(MODEL_DIR_ENV)
    if chosen:
        folder = Path(chosen)
    else:
        pointer = MODELS_DIR / DEFAULT_POINTER
        if not pointer.is_file():
            raise ModelError(
                f"no default model ({pointer} is missing): run `miner train` or pass --model DIR"
            )
        folder = MODELS_DIR / pointer.read_text(encoding="utf-8").strip()
    file = folder / MODEL_FILE if folder.is_dir() else folder
    if not file.is_file():
        raise ModelError(f"{file}: no such model file")
    return file


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def load_skops(file: Path) -> Any:
    """The object in a skops file, if it holds only skops' safe types and ALLOWED_TYPES."""
    import skops.io as sio  # ~0.6 s to import: only when a model file is not in the cache yet

    try:
        untrusted = sio.get_untrusted_types(file=file)
        unexpected = sorted(set(untrusted) - ALLOWED_TYPES)
        if unexpected:
            raise ModelError(f"{file}: refusing to load unexpected types: {', '.join(unexpected)}")
        model = sio.load(file, trusted=untrusted)
    except ModelError:
        raise
    except Exception as exc:  # a bad file makes zipfile, json or skops raise many unrelated types
        raise ModelError(f"{file}: not a valid skops model file ({_first_line(exc)})") from exc
    return model
