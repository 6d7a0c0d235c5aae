"""Configuration of the language-model experiment: the presets, and one checked, resolved config.

A resolved config (what a run directory's ``config.json`` holds) is a plain JSON-able dict; every
value in it has been checked, so the driver never meets a bad option half-way through a run.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.errors import InputError, as_float, as_int, choice, require
from . import data as data_mod

SETTINGS = {
    "1": {"epochs": 5, "keep_original": 0.0},  # no original data kept
    "2": {"epochs": 10, "keep_original": 0.1},  # a random 10% of the original blocks in every generation
}
PROMPTS = ("train", "original")
INITS = ("base", "previous")

# The paper's repetition ablation (its section "Ablation: Repetitions"): generation without a
# penalty against generation with the penalty of 2.0 the paper reports.
ABLATION_PENALTIES = (1.0, 2.0)

_COMMON = {
    "block_size": 64,
    "generations": 10,  # models in a chain: "Real" (generation 0) and generations 1..9
    "settings": ["1", "2"],
    "seeds": [0],
    "num_beams": 5,
    "new_tokens": 64,
    "repetition_penalty": 3.0,  # the official code; the paper's ablation used 2.0
    "prompts": "train",
    "init": "base",
    "weight_decay": 0.01,
    "generate_last": False,  # the last generation's data would train nobody
    "sample_prompts": 3,
}

# The offline corpus the cpu and smoke presets train on (the word-level wikitext-2 beside the checkout
# has only valid.txt and test.txt: train on valid.txt, hold out a tenth of it for validation).
_OFFLINE_DATA = {"source": "../shared/data/wikitext-2", "train": "valid.txt", "valid": None, "test": "test.txt",
                 "valid_fraction": 0.1}

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        **_COMMON,
        "model": {"source": "facebook/opt-125m"},
        "tokenizer": {"source": "model"},
        "data": {"source": "wikitext"},
        "limits": {"train": None, "valid": None, "test": None},
        "lr": 2e-5, "eta_min": 1e-6, "batch_size": 128, "eval_batch_size": 128, "gen_batch_size": 64,
        "seeds": [0, 1, 2, 3, 4],
        "epochs": None,  # None: the setting's (5 or 10)
        "checkpoint_chunks": 32,
    },
    "cpu": {
        **_COMMON,
        "model": {"source": "scratch", "hidden_size": 64, "num_layers": 2, "num_heads": 4, "ffn_dim": 256,
                  "max_positions": 128, "dropout": 0.1},
        "tokenizer": {"source": "train", "vocab_size": 2048},
        "data": _OFFLINE_DATA,
        "limits": {"train": 512, "valid": 128, "test": 512},
        "lr": 3e-3, "eta_min": 3e-5, "batch_size": 32, "eval_batch_size": 128, "gen_batch_size": 128,
        "epochs": None,
        "checkpoint_chunks": 1,
    },
    "smoke": {
        **_COMMON,
        "model": {"source": "scratch", "hidden_size": 16, "num_layers": 1, "num_heads": 2, "ffn_dim": 32,
                  "max_positions": 128, "dropout": 0.1},
        "tokenizer": {"source": "train", "vocab_size": 300},
        "data": _OFFLINE_DATA,
        "limits": {"train": 16, "valid": 4, "test": 4},
        "generations": 2, "settings": ["1", "2"], "seeds": [0],
        "lr": 1e-2, "eta_min": 1e-4, "batch_size": 8, "eval_batch_size": 8, "gen_batch_size": 8,
        "epochs": 2,
        "sample_prompts": 1,
        "checkpoint_chunks": 1,
        "generate_last": True,
    },
}


def _distinct_list(name: str, value, parse) -> list:
    """A non-empty list of distinct values, from a list or a comma-separated string."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        value = [value]
    items = [parse(v) for v in value]
    require(len(items) >= 1, f"give at least one of the {name}")
    require(len(set(items)) == len(items), f"{name} must be distinct, got {items}")
    return items


def _parse_seed(v) -> int:
    if isinstance(v, str):
        try:
            v = int(v)
        except ValueError:
            raise InputError(f"seeds must be integers separated by commas, got {v!r}") from None
    return as_int("seed", v, minimum=0)


def parse_seeds(value) -> list[int]:
    """The seeds of a run from a count or a list.

    A single number N (``3``, ``"3"``) means N seeds, 0 .. N-1 (``--seeds 5`` is the paper's five
    runs); a list (``[1, 4]``, ``"1,4"``) names the seeds; ``"A-B"`` is the range A .. B inclusive
    (``"3-3"`` is seed 3 alone).
    """
    if isinstance(value, bool):
        raise InputError(f"seeds must be a count, a list or a range, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if "," in text:
            return _distinct_list("seeds", text, _parse_seed)
        if "-" in text[1:]:
            lo, _, hi = text.partition("-")
            first, last = _parse_seed(lo.strip()), _parse_seed(hi.strip())
            require(first <= last, f"seed range {text!r} is empty (its first seed is after its last)")
            return list(range(first, last + 1))
        try:
            value = int(text)
        except ValueError:
            raise InputError(f"seeds must be a count (3), a list (0,2,4) or a range (5-9), got {value!r}") from None
    if isinstance(value, (int, np.integer)):
        count = int(value)
        require(count >= 1, f"seeds: a single number is a count of seeds (0 .. N-1) and must be >= 1, got {count}; "
                            "name one seed as a range such as 3-3")
        return list(range(count))
    return _distinct_list("seeds", value, _parse_seed)


def parse_penalties(value) -> list[float]:
    """One or more repetition penalties (> 0), from a number, a list or a comma-separated string."""

    def one(v) -> float:
        p = as_float("repetition_penalty", v)
        require(p > 0, f"repetition_penalty must be > 0, got {p}")
        return p

    return _distinct_list("repetition penalties", value, one)


def resolve_config(preset: str = "cpu", **overrides) -> dict[str, Any]:
    """The full configuration of a run: a preset with ``overrides`` (top-level keys, or nested
    ``model``/``data``/``tokenizer``/``limits`` dicts merged into the preset's), every value checked.

    ``seeds`` is a list, a count (``seeds=3`` is seeds 0, 1, 2) or a string (see :func:`parse_seeds`).
    """
    choice("preset", preset, tuple(PRESETS))
    cfg = copy.deepcopy(PRESETS[preset])
    cfg["preset"] = preset
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in cfg:
            raise InputError(f"unknown configuration key {key!r}")
        if isinstance(cfg[key], dict) and isinstance(value, Mapping):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    cfg["settings"] = _distinct_list("settings", cfg["settings"], lambda v: choice("setting", str(v), tuple(SETTINGS)))
    cfg["seeds"] = parse_seeds(cfg["seeds"])
    for key, minimum in (("generations", 1), ("num_beams", 1), ("new_tokens", 1), ("batch_size", 1),
                         ("eval_batch_size", 1), ("gen_batch_size", 1), ("sample_prompts", 0),
                         ("checkpoint_chunks", 1), ("block_size", 2)):
        cfg[key] = as_int(key, cfg[key], minimum=minimum)
    if cfg["epochs"] is not None:
        cfg["epochs"] = as_int("epochs", cfg["epochs"], minimum=1)
    cfg["lr"] = as_float("lr", cfg["lr"], minimum=0.0)
    cfg["eta_min"] = as_float("eta_min", cfg["eta_min"], minimum=0.0)
    cfg["weight_decay"] = as_float("weight_decay", cfg["weight_decay"], minimum=0.0)
    penalties = parse_penalties(cfg["repetition_penalty"])
    require(len(penalties) == 1, "one run has one repetition_penalty; compare several with the ablation "
                                 "(collapse-jax lm --repetition-penalty 1,2, or lm.run_ablation)")
    cfg["repetition_penalty"] = penalties[0]
    cfg["prompts"] = choice("prompts", cfg["prompts"], PROMPTS)
    cfg["init"] = choice("init", cfg["init"], INITS)
    cfg["generate_last"] = bool(cfg["generate_last"])
    for split in data_mod.SPLITS:
        limit = cfg["limits"].get(split)
        cfg["limits"][split] = None if limit is None else as_int(f"limits.{split}", limit, minimum=1)
    data = dict(cfg["data"])
    if data.get("source") not in (None, "wikitext"):
        source = Path(str(data["source"])).expanduser()
        if not source.is_absolute():  # preset paths are relative to the repository checkout
            here = Path(__file__).resolve().parents[2] / source
            source = here if here.is_dir() else source
        data["source"] = str(source)
    cfg["data"] = data_mod.resolve_sources(data)
    cfg["data_fingerprint"] = data_mod.fingerprint(cfg["data"])
    tok = cfg["tokenizer"]
    tok["source"] = str(tok.get("source", "model"))
    if tok["source"] == "train":
        tok["vocab_size"] = as_int("tokenizer.vocab_size", tok.get("vocab_size", 2048), minimum=260)
    model = cfg["model"]
    if model.get("source") == "scratch":
        require(tok["source"] != "model", "a model trained from scratch needs tokenizer source 'train' or a directory")
    elif model.get("source") is not None:
        model["source"] = str(model["source"])
    else:
        raise InputError("model source must be 'scratch', a Hugging Face model directory or a Hub id")
    return cfg


def setting_epochs(cfg: Mapping[str, Any], setting: str) -> int:
    return cfg["epochs"] if cfg["epochs"] is not None else SETTINGS[setting]["epochs"]


def _short(value: Any, width: int = 32) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any], *, most: int = 6, width: int = 32,
                   prefix: str = "") -> str:
    """The keys whose values differ between two nested configs, briefly: ``"seeds: [0] -> [0, 1];
    data.source: '/a/…' -> '/b/…'"``, values cut to ``width`` characters, at most ``most`` keys
    (then "and N more")."""
    changes = _changes(old, new, prefix)
    parts = [f"{k}: {_short(a, width)} -> {_short(b, width)}" for k, a, b in changes[:most]]
    if len(changes) > most:
        parts.append(f"and {len(changes) - most} more")
    return "; ".join(parts)


_MISSING = "<missing>"


def _changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str) -> list[tuple[str, Any, Any]]:
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, _MISSING), new.get(key, _MISSING)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(_changes(a, b, f"{name}."))
        elif _plain(a) != _plain(b):
            out.append((name, a, b))
    return out


def _plain(value: Any) -> Any:
    """A value as JSON would store it (tuples are lists), for comparing a fresh config with a read one."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


__all__ = ["SETTINGS", "PRESETS", "PROMPTS", "INITS", "ABLATION_PENALTIES", "resolve_config", "setting_epochs",
           "parse_seeds", "parse_penalties", "config_changes"]
