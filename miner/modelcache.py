"""A model kept in the disk cache after its first safe load, so that later processes skip skops.

`miner.classify.load_model` checks a model file against its allow-list with skops, whose import alone costs
~0.6 s (it imports every scikit-learn estimator to know which types are safe). Once a file has loaded that
way, the estimators' state (parameters, numpy arrays, nested estimators) is kept as plain data in the disk
cache (miner.cache), keyed by the file's SHA-256, and rebuilt from there. Rebuilding instantiates only
classes that are allow-listed or scikit-learn estimators, and marshal data cannot run code: a tampered cache
entry can at worst give a model that fails, like a tampered model file.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import sklearn
from sklearn.base import BaseEstimator

from miner.cache import load_or_build, pack_array, unpack_array

T = TypeVar("T")
# Tags of the encoded values that are not plain marshal data.
ARRAY, ESTIMATOR, TUPLE = "__ndarray__", "__estimator__", "__tuple__"


class NotCacheable(TypeError):
    """A model holds a value this cache does not encode: it is then loaded with skops every time."""


def load_cached(file: Path, load_safely: Callable[[], T], allowed: Collection[str]) -> T:
    """The model in `file`: rebuilt from the cache entry for its content, else `load_safely()` and cached."""
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    fresh: list[T] = []

    def build() -> Any:
        fresh.append(load_safely())
        try:
            return encode(fresh[0])
        except NotCacheable:
            return None  # remembered, so later loads go straight to `load_safely`

    # One entry, for the last model file loaded: a retrained model replaces it instead of piling up.
    encoded = load_or_build("model", build, (sklearn.__version__, digest), Path(__file__))
    if fresh:  # this process has just loaded it safely: use that object
        return fresh[0]
    if encoded is not None:
        with contextlib.suppress(NotCacheable, ValueError, TypeError):  # an entry that does not decode
            return decode(encoded, allowed)
    return load_safely()


def encode(value: Any) -> Any:
    """Plain data for an estimator graph: numbers, strings, lists, dicts, tagged arrays and estimators."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return (ARRAY, *pack_array(value))
    if isinstance(value, BaseEstimator):
        cls = type(value)
        return (ESTIMATOR, f"{cls.__module__}.{cls.__qualname__}", encode(value.__getstate__()))
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, tuple):
        return (TUPLE, [encode(item) for item in value])
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: encode(item) for key, item in value.items()}
    raise NotCacheable(f"cannot cache a {type(value).__name__}")


def decode(value: Any, allowed: Collection[str]) -> Any:
    """The inverse of `encode`; estimator classes must be in `allowed` or be scikit-learn's."""
    if isinstance(value, list):
        return [decode(item, allowed) for item in value]
    if isinstance(value, dict):
        return {key: decode(item, allowed) for key, item in value.items()}
    if not isinstance(value, tuple):
        return value
    if value[0] == TUPLE:
        return tuple(decode(item, allowed) for item in value[1])
    if value[0] == ARRAY:
        return unpack_array(value[1:], writable=True)  # as skops gives it
    _, name, state = value
    cls = _estimator_class(name, allowed)
    estimator = cls.__new__(cls)
    estimator.__setstate__(decode(state, allowed))
    return estimator


def _estimator_class(name: str, allowed: Collection[str]) -> type[BaseEstimator]:
    module, _, qualname = name.rpartition(".")
    if name not in allowed and not module.startswith("sklearn."):
        raise NotCacheable(f"refusing to rebuild {name}")
    cls = getattr(importlib.import_module(module), qualname, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
        raise NotCacheable(f"{name} is not an estimator class")
    return cls
