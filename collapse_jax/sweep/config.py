"""Sweep configs: read a TOML file (or a dict), apply a named scale, validate, fill defaults."""

from __future__ import annotations

import importlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..core.errors import InputError, as_float, as_int, choice, require
from ..core.streams import check_seed
from ..core.sweepable import Sweepable

FAMILIES = ("discrete", "gaussian", "regression", "kde", "poisson")
STREAMS = ("independent", "common")
TOP_KEYS = ("family", "generations", "chains", "seeds", "seed", "metrics_every", "metrics", "chunk_lanes",
            "chunk_seconds", "streams", "fixed", "grid", "cases", "name", "description", "experiment", "scales",
            "scale", "format")
RENAMED = {"record_every": "metrics_every"}
DEFAULT_CHUNK_SECONDS = 60.0  # work per chunk: a kill loses at most about this much
FORMAT_VERSION = 2


def family(name: str) -> Sweepable:
    """A family's sweep interface (``collapse_jax.<name>.SWEEP``)."""
    choice("family", name, FAMILIES)
    return importlib.import_module(f"collapse_jax.{name}").SWEEP


def load_config(source: "str | os.PathLike | Mapping[str, Any]", scale: str | None = None) -> dict[str, Any]:
    """Read (TOML path or dict), apply ``[scales.NAME]`` overrides, validate, fill defaults."""
    if isinstance(source, Mapping):
        raw = json.loads(json.dumps(dict(source), default=_plain))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as err:
            raise InputError(f"cannot read sweep config {str(path)!r}: {err.strerror}") from None
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"sweep config {str(path)!r} is not valid TOML: {err}") from None
    else:
        raise InputError(f"a sweep config is a TOML path or a dict, got {type(source).__name__}")
    scales = raw.pop("scales", {}) or {}
    require(isinstance(scales, Mapping), "config key 'scales' must be a table of named overrides")
    stored = raw.pop("scale", None)
    scale = stored if scale is None else scale
    if scale not in (None, "default") and not ("format" in raw and scale == stored):  # not resolved already
        require(scale in scales, f"unknown scale {scale!r}; this config defines: {', '.join(scales) or 'none'}")
        raw = _merge(raw, scales[scale])
    cfg = _validate(raw)
    cfg["scale"] = scale or "default"
    return cfg


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not a plain config value: {type(obj).__name__}")


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    for old, new in RENAMED.items():
        require(old not in raw, f"config key {old!r} is now called {new!r} (a metrics row every k generations)")
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise InputError(f"unknown config key {unknown[0]!r}; expected some of: {', '.join(TOP_KEYS)}")
    fam = family(raw.get("family", "discrete"))
    params = fam.defaults
    require("generations" in raw, "config key 'generations' is required")
    generations = as_int("generations", raw["generations"], minimum=1)
    require(generations < 2**31, f"generations must be below 2^31, got {generations}")
    chains = as_int("chains", raw.get("chains", 1000), minimum=1)
    require(not ("seed" in raw and "seeds" in raw), "give either 'seed' or 'seeds', not both")
    seeds = raw.get("seeds", [raw.get("seed", 0)])
    require(isinstance(seeds, list) and len(seeds) > 0, "config key 'seeds' must be a non-empty list of integers")
    seeds = [check_seed(s, "seeds") for s in seeds]
    require(len(set(seeds)) == len(seeds), f"config key 'seeds' has repeated values: {seeds}")
    metrics_every = as_int("metrics_every", raw.get("metrics_every", max(1, generations // 100)), minimum=1)
    chunk_lanes = raw.get("chunk_lanes")
    chunk_lanes = None if chunk_lanes is None else as_int("chunk_lanes", chunk_lanes, minimum=1)
    chunk_seconds = as_float("chunk_seconds", raw.get("chunk_seconds", DEFAULT_CHUNK_SECONDS))
    require(chunk_seconds > 0, f"chunk_seconds must be > 0, got {chunk_seconds}")
    streams = choice("streams", raw.get("streams", "independent"), STREAMS)
    metrics = raw.get("metrics", list(fam.metrics))
    require(isinstance(metrics, list) and metrics, "config key 'metrics' must be a non-empty list of names")
    for m in metrics:
        choice("metric", m, fam.metrics)
    fixed = raw.get("fixed", {}) or {}
    grid = raw.get("grid", {}) or {}
    cases = raw.get("cases", []) or []
    require(isinstance(fixed, Mapping), "config key 'fixed' must be a table of parameter = value")
    require(isinstance(grid, Mapping), "config key 'grid' must be a table of parameter = [values]")
    require(isinstance(cases, list) and all(isinstance(c, Mapping) for c in cases),
            "config key 'cases' must be a list of tables ([[cases]])")
    for where, names in (("fixed", fixed), ("grid", grid), *((f"cases[{i}]", c) for i, c in enumerate(cases))):
        for name in names:
            if name not in params:
                raise InputError(f"unknown {fam.name} parameter {where}.{name!r}; expected one of: {', '.join(params)}")
    for name, values in grid.items():
        require(isinstance(values, list), f"grid.{name} must be a list of values, got {values!r}")
        require(len(values) > 0, f"grid.{name} is empty: give at least one value")
    overlap = sorted(set(fixed) & set(grid))
    if overlap:
        raise InputError(f"parameter {overlap[0]!r} is both fixed and in the grid")
    return {
        "family": fam.name, "generations": generations, "chains": chains, "seeds": seeds,
        "metrics_every": min(metrics_every, generations), "metrics": list(metrics), "chunk_lanes": chunk_lanes,
        "chunk_seconds": chunk_seconds, "streams": streams, "fixed": dict(fixed),
        "grid": {k: list(v) for k, v in grid.items()}, "cases": [dict(c) for c in cases],
        "name": str(raw.get("name", "")), "description": str(raw.get("description", "")),
        "experiment": str(raw.get("experiment", "")), "format": FORMAT_VERSION,
    }


__all__ = ["load_config", "family", "FAMILIES", "STREAMS", "TOP_KEYS", "FORMAT_VERSION"]
