"""The paper's language-model experiment (Fig. 1b/1c): fine-tune, generate, fine-tune on that, repeat.

One chain per (setting, seed)::

    D_0 = real training blocks
    for g in 0 .. generations-1:
        model_g = train(start, D_g)            # best epoch by validation loss
        evaluate model_g on the real test set; score D_g with model_0 (per-sequence perplexity)
        D_{g+1} = beam_search(model_g, prompts) # 5 beams, exactly 64 new tokens per prompt
        (setting 2: a fresh random 10% of D_{g+1}'s positions hold the original block instead)

``start`` is the base model (pretrained OPT, or a random init for the ``cpu``/``smoke`` presets)
in every generation (``init="base"``, the official code, which loads ``facebook/opt-125m`` each
time) or the previous generation's model (``init="previous"``). Prompts are the blocks generation
``g`` trained on (``prompts="train"``, the official code with ``--load-generate``) or always the
original training blocks (``prompts="original"``, one reading of the paper).

The run directory::

    config.json                resolved configuration (a different one is refused on resume)
    run.json                   package versions
    tokenizer/                 the tokenizer (OPT's, or the BPE trained for the cpu/smoke presets)
    data.npz                   real train/valid/test blocks (token ids)
    setting{S}/seed{K}/gen_{G:02d}/   model/ (Hugging Face format), data.npz, metrics.json
    summary.csv, summary.json, perplexity.png, histograms.png, samples.md

A generation is assembled in ``.gen_{G:02d}.partial/`` (training checkpoints after every epoch,
the exported model, evaluation, generated ids in chunks) and renamed into place when complete,
so a killed run continues from its last completed step. All randomness is a function of
(seed, generation, epoch, step), so a resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import copy
import io
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..core.errors import InputError, as_float, as_int, choice, require
from ..core.rundir import RunDir, claim, atomic_write_bytes, atomic_write_csv, atomic_write_json, atomic_write_text, config_diff, read_json, versions
from . import data as data_mod

# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

SETTINGS = {
    "1": {"epochs": 5, "keep_original": 0.0},  # no original data kept
    "2": {"epochs": 10, "keep_original": 0.1},  # a random 10% of the original blocks in every generation
}
PROMPTS = ("train", "original")
INITS = ("base", "previous")

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
        "data": {"source": "../shared/data/wikitext-2", "train": "valid.txt", "valid": None, "test": "test.txt",
                 "valid_fraction": 0.1},
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
        "data": {"source": "../shared/data/wikitext-2", "train": "valid.txt", "valid": None, "test": "test.txt",
                 "valid_fraction": 0.1},
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
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
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


def resolve_config(preset: str = "cpu", **overrides) -> dict[str, Any]:
    """The full configuration of a run: a preset with ``overrides`` (top-level keys, or nested
    ``model``/``data``/``tokenizer``/``limits`` dicts merged into the preset's), every value checked."""
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
    cfg["seeds"] = _distinct_list("seeds", cfg["seeds"], _parse_seed)
    for key, minimum in (("generations", 1), ("num_beams", 1), ("new_tokens", 1), ("batch_size", 1),
                         ("eval_batch_size", 1), ("gen_batch_size", 1), ("sample_prompts", 0),
                         ("checkpoint_chunks", 1), ("block_size", 2)):
        cfg[key] = as_int(key, cfg[key], minimum=minimum)
    if cfg["epochs"] is not None:
        cfg["epochs"] = as_int("epochs", cfg["epochs"], minimum=1)
    cfg["lr"] = as_float("lr", cfg["lr"], minimum=0.0)
    cfg["eta_min"] = as_float("eta_min", cfg["eta_min"], minimum=0.0)
    cfg["weight_decay"] = as_float("weight_decay", cfg["weight_decay"], minimum=0.0)
    cfg["repetition_penalty"] = as_float("repetition_penalty", cfg["repetition_penalty"])
    require(cfg["repetition_penalty"] > 0, f"repetition_penalty must be > 0, got {cfg['repetition_penalty']}")
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


# --------------------------------------------------------------------------------------------
# Randomness: every stream is a function of (seed, generation, purpose, epoch)
# --------------------------------------------------------------------------------------------

_PURPOSE = {"init": 1, "dropout": 2, "shuffle": 3, "mix": 4}


def _stream(seed: int, setting: str, generation: int, purpose: str, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, int(setting), generation, _PURPOSE[purpose], *more])


def _int_seed(seed: int, setting: str, generation: int, purpose: str) -> int:
    return int(_stream(seed, setting, generation, purpose).integers(0, 2 ** 31 - 1))


def mix_original(generated_NxT: np.ndarray, original_NxT: np.ndarray, fraction: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Replace a random ``round(fraction * N)`` positions of ``generated`` by the original blocks there.

    Returns the mixed blocks and the sorted indices that hold original data.
    """
    n = generated_NxT.shape[0]
    k = int(round(fraction * n))
    idx = np.sort(rng.choice(n, size=k, replace=False)) if k else np.zeros((0,), np.int64)
    mixed = generated_NxT.copy()
    mixed[idx] = original_NxT[idx]
    return mixed, idx


# --------------------------------------------------------------------------------------------
# Model, tokenizer, checkpoints
# --------------------------------------------------------------------------------------------


def _round_up(n: int, multiple: int = 8) -> int:
    return -(-n // multiple) * multiple


def model_config(cfg: Mapping[str, Any], tokenizer):
    from .model import ModelConfig

    m = cfg["model"]
    return ModelConfig(vocab_size=_round_up(len(tokenizer)), hidden_size=m["hidden_size"], num_layers=m["num_layers"],
                       num_heads=m["num_heads"], ffn_dim=m["ffn_dim"], max_positions=m["max_positions"],
                       dropout=float(m.get("dropout", 0.1)))


def base_model(cfg: Mapping[str, Any], tokenizer, seed: int, setting: str):
    """The starting point of training: pretrained weights, or a random init (seeded per chain)."""
    from .model import init_model
    from .tokenizer import check_tokenizer
    from .weights import load_model

    if cfg["model"]["source"] == "scratch":
        model = init_model(model_config(cfg, tokenizer), seed=_int_seed(seed, setting, 0, "init"))
    else:
        model, _ = load_model(cfg["model"]["source"])
    check_tokenizer(tokenizer, model.config)
    need = cfg["block_size"] + cfg["new_tokens"]
    require(model.config.max_positions >= need,
            f"the model has {model.config.max_positions} positions, fewer than block_size + new_tokens = {need}")
    return model


def _flat_leaves(tree) -> list[np.ndarray]:
    import jax

    return [np.asarray(jax.device_get(x)) for x in jax.tree.leaves(tree)]


def _unflatten_like(tree, arrays: Sequence[np.ndarray]):
    import jax
    import jax.numpy as jnp

    leaves, treedef = jax.tree.flatten(tree)
    if len(leaves) != len(arrays):
        raise InputError(f"checkpoint has {len(arrays)} arrays, the model expects {len(leaves)}")
    return jax.tree.unflatten(treedef, [jnp.asarray(a, dtype=leaf.dtype).reshape(leaf.shape)
                                        for a, leaf in zip(arrays, leaves)])


def _save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # uncompressed: checkpoints of OPT-125m are large, compression is slow
    atomic_write_bytes(path, buf.getvalue())


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _group(arrays: Mapping[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    keys = sorted((k for k in arrays if k.startswith(prefix)), key=lambda k: int(k[len(prefix):]))
    return [arrays[k] for k in keys]


# --------------------------------------------------------------------------------------------
# Scoring and generation on fixed-shape batches
# --------------------------------------------------------------------------------------------


def _padded_batches(blocks: np.ndarray, batch_size: int):
    """(start, count, batch) with every batch of ``batch_size`` rows (the last one padded by repeating
    row 0), so one compiled shape serves the whole dataset."""
    n = blocks.shape[0]
    for start in range(0, n, batch_size):
        batch = blocks[start:start + batch_size]
        count = batch.shape[0]
        if count < batch_size and n >= batch_size:
            batch = np.concatenate([batch, np.repeat(batch[:1], batch_size - count, axis=0)])
        yield start, count, batch


def score_blocks(model, blocks: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Summed next-token NLL of every block (N,) and its number of predicted tokens (N,)."""
    from .train import sequence_nll

    nll = np.zeros(blocks.shape[0], np.float64)
    count = np.zeros(blocks.shape[0], np.int64)
    for start, n, batch in _padded_batches(blocks, batch_size):
        nll_B, count_B = sequence_nll(model, batch)
        nll[start:start + n] = np.asarray(nll_B, np.float64)[:n]
        count[start:start + n] = np.asarray(count_B)[:n]
    return nll, count


def mean_loss(nll: np.ndarray, count: np.ndarray) -> float:
    """Token-weighted mean NLL (its exp is the perplexity)."""
    return float(np.sum(nll) / np.sum(count))


def continue_blocks(model, prompts: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """The paper's generation: beam search of exactly ``new_tokens`` tokens after each prompt."""
    from .generate import beam_search

    out = beam_search(model, prompts, num_beams=cfg["num_beams"], max_new_tokens=cfg["new_tokens"],
                      min_new_tokens=cfg["new_tokens"], repetition_penalty=cfg["repetition_penalty"])
    return np.asarray(out.sequences_BxL)[:, prompts.shape[1]:].astype(np.int32)


# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------


class _Progress:
    """A tqdm bar over weighted work units (token-passes), with ETA; ``hook`` fires at checkpoints."""

    def __init__(self, total: float, enabled: bool, hook: Callable[[str], None] | None):
        self.hook = hook
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=round(total), unit="tok", unit_scale=True, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {percentage:3.0f}% [{elapsed}<{remaining}] {desc}")

    def advance(self, units: float) -> None:
        if self.bar is not None:
            self.bar.update(round(units))

    def describe(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(text, refresh=False)

    def checkpoint(self, label: str) -> None:
        if self.hook is not None:
            self.hook(label)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Run:
    """A run directory: prepares data and tokenizer once, then runs every (setting, seed) chain."""

    def __init__(self, cfg: Mapping[str, Any], out: str | os.PathLike, *, overwrite: bool = False):
        self.cfg = dict(cfg)
        self.out = self._open(out, overwrite)
        self.tokenizer = None
        self.blocks: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- directory
    def _open(self, out: str | os.PathLike, overwrite: bool) -> RunDir:
        """Claim the run directory: resume a run of the same configuration, refuse anything else."""
        run = claim(out, "lm", overwrite=overwrite, resume=not overwrite, legacy="run.json")
        if run.resumed:
            try:
                old = read_json(run.path / "config.json")
            except (OSError, ValueError) as err:
                raise InputError(f"{run.path}/config.json is unreadable ({err}); move the run directory away "
                                 "or pass --overwrite to start again") from None
            diffs = config_diff(old, self.cfg)
            if diffs:
                raise InputError(f"{run.path} was made with a different configuration; refusing to resume it "
                                 f"({'; '.join(diffs)}); choose another --out or pass --overwrite")
            return run
        atomic_write_json(run / "run.json", {"versions": versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        atomic_write_json(run / "config.json", self.cfg)
        return run

    # ---------------------------------------------------------------- data
    def prepare(self) -> None:
        """Tokenizer and blocks: built once, then read back from the run directory."""
        from .tokenizer import load_tokenizer, train_tokenizer

        cfg = self.cfg
        tok_dir = self.out / "tokenizer"
        data_path = self.out / "data.npz"
        rows = None
        if not tok_dir.is_dir():
            source = cfg["tokenizer"]["source"]
            staging = self.out / ".tokenizer.partial"
            shutil.rmtree(staging, ignore_errors=True)
            if source == "train":
                rows = data_mod.load_rows(cfg["data"])
                train_tokenizer(rows["train"], cfg["tokenizer"]["vocab_size"], directory=staging)
            else:
                load_tokenizer(cfg["model"]["source"] if source == "model" else source).save_pretrained(str(staging))
            os.replace(staging, tok_dir)
        self.tokenizer = load_tokenizer(tok_dir)
        if not data_path.is_file():
            rows = rows or data_mod.load_rows(cfg["data"])
            blocks = {}
            for split in data_mod.SPLITS:
                full = data_mod.tokenize_blocks(rows[split], self.tokenizer, cfg["block_size"], name=f"{split} split")
                blocks[split] = data_mod.limit_blocks(full, cfg["limits"][split])
            _save_npz(data_path, blocks)
        self.blocks = _load_npz(data_path)
        n = self.blocks["train"].shape[0]
        require(cfg["batch_size"] <= n, f"batch_size {cfg['batch_size']} is larger than the {n} training blocks")
        for split in ("valid", "test"):
            require(self.blocks[split].shape[0] >= 1, f"the {split} split has no complete block")

    # ---------------------------------------------------------------- work estimate (progress / ETA)
    def _units(self, setting: str) -> dict[str, float]:
        cfg, n = self.cfg, self.blocks["train"].shape[0]
        t = cfg["block_size"]
        epoch = 3 * n * t + self.blocks["valid"].shape[0] * t
        gen = 2 * cfg["num_beams"] * n * (t + cfg["new_tokens"])
        ev = (self.blocks["test"].shape[0] + 2 * n) * t
        return {"epoch": epoch, "gen": gen, "eval": ev, "epochs": setting_epochs(cfg, setting)}

    def _total_units(self) -> tuple[float, float]:
        total = done = 0.0
        for setting in self.cfg["settings"]:
            u = self._units(setting)
            for seed in self.cfg["seeds"]:
                for g in range(self.cfg["generations"]):
                    gens = g < self.cfg["generations"] - 1 or self.cfg["generate_last"]
                    units = u["epoch"] * u["epochs"] + u["eval"] + (u["gen"] if gens else 0)
                    total += units
                    if (self.chain_dir(setting, seed) / f"gen_{g:02d}").is_dir():
                        done += units
        return total, done

    def chain_dir(self, setting: str, seed: int) -> Path:
        return self.out / f"setting{setting}" / f"seed{seed}"

    # ---------------------------------------------------------------- everything
    def run(self, *, progress: bool = True, hook: Callable[[str], None] | None = None) -> dict[str, Any]:
        try:
            self.prepare()
        except InputError as err:
            self.out.discard()  # bad data or options: leave nothing behind that this run made
            raise InputError(" ".join(str(err).split())) from None  # one line, whatever the library said
        total, done = self._total_units()
        bar = _Progress(total, progress, hook)
        bar.advance(done)
        try:
            for setting in self.cfg["settings"]:
                for seed in self.cfg["seeds"]:
                    _Chain(self, setting, seed, bar).run()
        finally:
            bar.close()
        return write_summary(self.out)


class _Chain:
    def __init__(self, run: Run, setting: str, seed: int, bar: _Progress):
        self.run_ = run
        self.cfg = run.cfg
        self.setting = setting
        self.seed = seed
        self.bar = bar
        self.dir = run.chain_dir(setting, seed)
        self.units = run._units(setting)
        self.real = run.blocks["train"]
        self._model0 = None

    def gen_dir(self, g: int) -> Path:
        return self.dir / f"gen_{g:02d}"

    def run(self) -> None:
        for g in range(self.cfg["generations"]):
            if self.gen_dir(g).is_dir():
                continue
            self.generation(g)

    # ---------------------------------------------------------------- one generation
    def training_data(self, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(train blocks, the generated blocks they came from, indices holding original data)."""
        if g == 0:
            return self.real, self.real, np.zeros((0,), np.int64)
        generated = _load_npz(self.gen_dir(g - 1) / "data.npz")["generated"]
        keep = SETTINGS[self.setting]["keep_original"]
        mixed, idx = mix_original(generated, self.real, keep, _stream(self.seed, self.setting, g, "mix"))
        return mixed, generated, idx

    def start_model(self, g: int):
        from .weights import load_model

        if g > 0 and self.cfg["init"] == "previous":
            model, _ = load_model(self.gen_dir(g - 1) / "model")
            return model
        return base_model(self.cfg, self.run_.tokenizer, self.seed, self.setting)

    def model0(self, current, g: int):
        from .weights import load_model

        if g == 0:
            return current
        if self._model0 is None:
            self._model0, _ = load_model(self.gen_dir(0) / "model")
        return self._model0

    def generation(self, g: int) -> None:
        cfg, bar = self.cfg, self.bar
        partial = self.dir / f".gen_{g:02d}.partial"
        partial.mkdir(parents=True, exist_ok=True)
        label = f"setting {self.setting} seed {self.seed} gen {g}"
        train, generated, kept = self.training_data(g)
        timings = _read_json_or(partial / "timings.json", {})

        # 1. train (checkpoint after every epoch), export the best epoch's model
        if not (partial / "model").is_dir():
            t0 = time.perf_counter()
            model, history = self.train(g, train, partial, label)
            from .weights import export_model

            atomic_write_json(partial / "history.json", history)  # before the model: its presence means done
            export_model(model, partial / "model", tokenizer=self.run_.tokenizer)
            timings["train_s"] = timings.get("train_s", 0.0) + time.perf_counter() - t0
            atomic_write_json(partial / "timings.json", timings)
            (partial / "train_state.npz").unlink(missing_ok=True)
            (partial / "train_history.json").unlink(missing_ok=True)
            bar.checkpoint(f"{label}: model")
        else:
            bar.advance(self.units["epoch"] * self.units["epochs"])
        from .weights import load_model

        model, _ = load_model(partial / "model")
        history = read_json(partial / "history.json")

        # 2. evaluate: test perplexity, per-sequence perplexity of the training data under model 0,
        #    diversity, sample continuations
        if not (partial / "eval.json").is_file():
            t0 = time.perf_counter()
            bar.describe(f"{label}: evaluate")
            evaluation, per_seq = self.evaluate(g, model, generated)
            _save_npz(partial / "scores.npz", per_seq)
            timings["eval_s"] = time.perf_counter() - t0
            atomic_write_json(partial / "timings.json", timings)
            atomic_write_json(partial / "eval.json", evaluation)
            bar.checkpoint(f"{label}: eval")
        bar.advance(self.units["eval"])
        evaluation = read_json(partial / "eval.json")

        # 3. generate the next generation's data (in chunks, each saved)
        arrays = {"train": train, "kept_original": kept, **_load_npz(partial / "scores.npz")}
        if g < cfg["generations"] - 1 or cfg["generate_last"]:
            t0 = time.perf_counter()
            prompts = train if cfg["prompts"] == "train" else self.real
            arrays["generated"] = self.generate(model, prompts, partial, label)
            timings["generate_s"] = timings.get("generate_s", 0.0) + time.perf_counter() - t0
            atomic_write_json(partial / "timings.json", timings)
        _save_npz(partial / "data.npz", arrays)

        metrics = {"setting": self.setting, "seed": self.seed, "generation": g,
                   "epochs": setting_epochs(cfg, self.setting), **history, **evaluation,
                   "kept_original": int(kept.size), "train_blocks": int(train.shape[0]), "timings": timings}
        atomic_write_json(partial / "metrics.json", metrics)
        final = self.gen_dir(g)
        os.replace(partial, final)  # the generation is complete from here on
        for name in ("generated.partial.npz", "scores.npz", "eval.json", "history.json", "timings.json"):
            (final / name).unlink(missing_ok=True)  # working files (a kill here only leaves them behind)
        bar.checkpoint(f"{label}: done")

    # ---------------------------------------------------------------- training
    def train(self, g: int, train: np.ndarray, partial: Path, label: str):
        import jax
        import jax.numpy as jnp
        import optax
        from flax import nnx

        from .train import adamw, init_train_state, make_train_step, update_model

        cfg, bar = self.cfg, self.bar
        epochs = setting_epochs(cfg, self.setting)
        n, bs = train.shape[0], cfg["batch_size"]
        require(bs <= n, f"batch_size {bs} is larger than the {n} training blocks")
        steps_per_epoch = -(-n // bs)
        lr0, eta_min = cfg["lr"], cfg["eta_min"]

        def schedule(count):  # torch CosineAnnealingLR(T_max=epochs, eta_min) stepped once per epoch
            epoch = count // steps_per_epoch
            return eta_min + (lr0 - eta_min) * 0.5 * (1.0 + jnp.cos(jnp.pi * epoch / epochs))

        model = self.start_model(g)
        key = (model.config, epochs, steps_per_epoch, lr0, eta_min, cfg["weight_decay"])
        if key not in _STEP_CACHE:  # one compiled train step serves every generation of a chain
            tx = adamw(schedule, weight_decay=cfg["weight_decay"])
            _STEP_CACHE[key] = (tx, make_train_step(model, tx))
        tx, step = _STEP_CACHE[key]
        state = init_train_state(model, tx, seed=_int_seed(self.seed, self.setting, g, "dropout"))
        history = {"train_loss": [], "valid_loss": [], "best_epoch": -1, "best_valid_loss": math.inf}
        best = None
        start_epoch = 0
        ckpt = partial / "train_state.npz"
        if ckpt.is_file():
            arrays = _load_npz(ckpt)
            params = _unflatten_like(state.params, _group(arrays, "p"))
            opt_state = _unflatten_like(state.opt_state, _group(arrays, "o"))
            best = _unflatten_like(state.params, _group(arrays, "b"))
            state = state._replace(params=params, opt_state=opt_state, step=jnp.asarray(arrays["step"], jnp.int32))
            history = read_json(partial / "train_history.json")
            start_epoch = len(history["train_loss"])
            bar.advance(self.units["epoch"] * start_epoch)
        valid = self.run_.blocks["valid"]
        for epoch in range(start_epoch, epochs):
            bar.describe(f"{label}: epoch {epoch + 1}/{epochs}")
            order = _stream(self.seed, self.setting, g, "shuffle", epoch).permutation(n)
            losses = []
            for b in range(steps_per_epoch):
                idx = order[b * bs:(b + 1) * bs]
                state, metrics = step(state, {"input_ids": train[idx]})
                losses.append(metrics["loss"] * len(idx))
                bar.advance(3 * len(idx) * train.shape[1])
            train_loss = float(sum(float(x) for x in losses) / n)
            update_model(model, state)
            valid_loss = mean_loss(*score_blocks(model, valid, cfg["eval_batch_size"]))
            bar.advance(valid.shape[0] * valid.shape[1])
            history["train_loss"].append(train_loss)
            history["valid_loss"].append(valid_loss)
            if best is None or valid_loss < history["best_valid_loss"]:
                history["best_valid_loss"], history["best_epoch"] = valid_loss, epoch
                best = jax.tree.map(jnp.copy, state.params)
            arrays = {"step": np.asarray(int(state.step))}
            for prefix, tree in (("p", state.params), ("o", state.opt_state), ("b", best)):
                arrays.update({f"{prefix}{i}": a for i, a in enumerate(_flat_leaves(tree))})
            _save_npz(ckpt, arrays)
            atomic_write_json(partial / "train_history.json", history)
            bar.checkpoint(f"{label}: epoch {epoch}")
        update_model(model, best)
        model.eval()
        return model, history

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, g: int, model, generated: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        cfg, run = self.cfg, self.run_
        bs = cfg["eval_batch_size"]
        nll, count = score_blocks(model, run.blocks["test"], bs)
        test_loss = mean_loss(nll, count)
        # the data this generation learnt from (generated by model g-1; the real blocks for g = 0),
        # scored by the generation-0 model: the left panels of Fig. 1b/c
        data_nll, data_count = score_blocks(self.model0(model, g), generated, bs)
        data_ppl = np.exp(data_nll / data_count)
        vocab = len(run.tokenizer)
        evaluation = {
            "test_loss": test_loss, "test_ppl": math.exp(test_loss), "test_tokens": int(np.sum(count)),
            "data_ppl_gen0": {"median": float(np.median(data_ppl)), "mean": float(np.mean(data_ppl)),
                              "q05": float(np.quantile(data_ppl, 0.05)), "q95": float(np.quantile(data_ppl, 0.95))},
            "data_loss_gen0": mean_loss(data_nll, data_count),
            "diversity": data_mod.diversity(generated, vocab),
            "samples": self.samples(model),
        }
        return evaluation, {"data_ppl_gen0": data_ppl}

    def samples(self, model) -> list[dict[str, str]]:
        """Continuations of the same few test prompts (the paper's Example 1)."""
        k = min(self.cfg["sample_prompts"], self.run_.blocks["test"].shape[0])
        if k == 0:
            return []
        test = self.run_.blocks["test"]
        idx = np.linspace(0, test.shape[0] - 1, k).round().astype(int)
        prompts = test[idx]
        out = continue_blocks(model, prompts, self.cfg)
        tok = self.run_.tokenizer
        return [{"prompt": tok.decode(p, skip_special_tokens=True), "continuation": tok.decode(c, skip_special_tokens=True)}
                for p, c in zip(prompts, out)]

    # ---------------------------------------------------------------- generation
    def generate(self, model, prompts: np.ndarray, partial: Path, label: str) -> np.ndarray:
        cfg, bar = self.cfg, self.bar
        path = partial / "generated.partial.npz"
        n, bs = prompts.shape[0], cfg["gen_batch_size"]
        out = np.zeros((n, cfg["new_tokens"]), np.int32)
        done = 0
        if path.is_file():
            saved = _load_npz(path)
            done = int(saved["done"])
            out[:done] = saved["ids"][:done]
        per_row = self.units["gen"] / n
        bar.advance(per_row * done)
        chunks = 0
        for start, count, batch in _padded_batches(prompts, bs):
            if start < done:
                continue
            bar.describe(f"{label}: generate {start + count}/{n}")
            out[start:start + count] = continue_blocks(model, batch, cfg)[:count]
            bar.advance(per_row * count)
            chunks += 1
            if chunks % cfg["checkpoint_chunks"] == 0 or start + count == n:
                _save_npz(path, {"ids": out[:start + count], "done": np.asarray(start + count)})
                bar.checkpoint(f"{label}: generated {start + count}")
        return out


_STEP_CACHE: dict[tuple, tuple] = {}


def _read_json_or(path: Path, default):
    return read_json(path) if path.is_file() else default


# --------------------------------------------------------------------------------------------
# Summary, figures
# --------------------------------------------------------------------------------------------

SUMMARY_COLUMNS = ["setting", "seed", "generation", "epochs", "test_ppl", "test_loss", "best_valid_loss", "best_epoch",
                   "data_ppl_gen0_median", "data_ppl_gen0_mean", "distinct_1", "distinct_2", "distinct_4", "repeat_4",
                   "kept_original", "train_s", "eval_s", "generate_s"]


def collect(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The metrics of every completed generation in a run directory, sorted."""
    rows = []
    for path in sorted(Path(out).glob("setting*/seed*/gen_*/metrics.json")):
        rows.append(read_json(path))
    rows.sort(key=lambda m: (m["setting"], m["seed"], m["generation"]))
    return rows


def _row(m: Mapping[str, Any]) -> list[Any]:
    d, t = m["diversity"], m["timings"]
    return [m["setting"], m["seed"], m["generation"], m["epochs"], m["test_ppl"], m["test_loss"], m["best_valid_loss"],
            m["best_epoch"], m["data_ppl_gen0"]["median"], m["data_ppl_gen0"]["mean"], d.get("distinct_1"),
            d.get("distinct_2"), d.get("distinct_4"), d.get("repeat_4"), m["kept_original"], t.get("train_s"),
            t.get("eval_s"), t.get("generate_s")]


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list]]:
    """Per setting: test perplexity mean and std over seeds for each generation (NaN where missing)."""
    out: dict[str, dict[str, list]] = {}
    for setting in sorted({m["setting"] for m in rows}):
        mine = [m for m in rows if m["setting"] == setting]
        gens = max(m["generation"] for m in mine) + 1
        mean, std, n = [], [], []
        for g in range(gens):
            vals = [m["test_ppl"] for m in mine if m["generation"] == g]
            mean.append(float(np.mean(vals)) if vals else math.nan)
            std.append(float(np.std(vals, ddof=1)) if len(vals) > 1 else (0.0 if vals else math.nan))
            n.append(len(vals))
        out[setting] = {"test_ppl_mean": mean, "test_ppl_std": std, "seeds": n}
    return out


def write_summary(out: "str | os.PathLike | RunDir") -> dict[str, Any]:
    """summary.csv, summary.json, samples.md and the figures, from the completed generations."""
    if not isinstance(out, RunDir):
        out = claim(out, "lm", resume=True, flag="lm run directory", legacy="run.json")
    rows = collect(out.path)
    atomic_write_csv(out / "summary.csv", SUMMARY_COLUMNS, [_row(m) for m in rows])
    summary = {"per_setting": aggregate(rows), "generations_completed": len(rows)}
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "samples.md", samples_markdown(rows))
    if rows:
        plot(out, rows)
    return summary


def samples_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Per setting and prompt, the continuation each generation's model writes (first seed)."""
    lines = ["# Sample continuations (5-way beam search) of the same prompts, per generation", ""]
    for setting in sorted({m["setting"] for m in rows}):
        seed = min(m["seed"] for m in rows if m["setting"] == setting)
        chain = sorted((m for m in rows if m["setting"] == setting and m["seed"] == seed), key=lambda m: m["generation"])
        for i, first in enumerate(chain[0]["samples"]):
            lines += [f"## setting {setting}, seed {seed}, prompt {i}", "", f"> {' '.join(first['prompt'].split())}", ""]
            for m in chain:
                if i < len(m["samples"]):
                    text = " ".join(m["samples"][i]["continuation"].split())
                    lines.append(f"- {'Real' if m['generation'] == 0 else 'gen ' + str(m['generation'])}: {text}")
            lines.append("")
    return "\n".join(lines) + "\n"


def plot(out: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """perplexity.png (test perplexity vs generation, one panel per setting) and histograms.png
    (per-sequence perplexity of each generation's training data under the generation-0 model)."""
    from ..core import plots

    plt = plots.plt
    agg = aggregate(rows)
    settings = sorted(agg)
    fig, axes = plots.figure(ncols=len(settings), width=4.6, height=3.4)
    for ax, setting in zip(axes, settings):
        a = agg[setting]
        g = np.arange(len(a["test_ppl_mean"]))
        ax.errorbar(g, a["test_ppl_mean"], yerr=a["test_ppl_std"], fmt="o-", ms=4, capsize=3)
        ax.set_xticks(g, ["Real"] + [str(i) for i in g[1:]])
        ax.set_xlabel("generation")
        ax.set_ylabel("test perplexity (mean ± std over seeds)")
        epochs = sorted({m["epochs"] for m in rows if m["setting"] == setting})
        keep = int(round(SETTINGS[setting]["keep_original"] * 100))
        ax.set_title(f"setting {setting}: {'/'.join(map(str, epochs))} epochs, {keep}% original data", fontsize=10)
        ax.grid(alpha=0.3)
    plots.save(fig, out / "perplexity.png")

    fig, axes = plots.figure(ncols=len(settings), width=4.6, height=3.4)
    for ax, setting in zip(axes, settings):
        seed = min(m["seed"] for m in rows if m["setting"] == setting)
        gens = sorted(m["generation"] for m in rows if m["setting"] == setting and m["seed"] == seed)
        values = {}
        for g in gens:
            path = out / f"setting{setting}" / f"seed{seed}" / f"gen_{g:02d}" / "data.npz"
            with np.load(path) as z:
                values[g] = z["data_ppl_gen0"]
        allv = np.concatenate(list(values.values()))
        lo, hi = max(np.min(allv), 1e-3), np.max(allv)
        bins = np.geomspace(lo, hi * 1.0001, 40) if hi > lo else 10
        cmap = plt.get_cmap("viridis")
        for g in gens:
            ax.hist(values[g], bins=bins, histtype="step", weights=np.full(values[g].size, 1.0 / values[g].size), lw=1.2,
                    color=cmap(g / max(1, len(gens) - 1)), label="Real" if g == 0 else f"gen {g}")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_xlim(10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi * 1.0001)))
        ax.set_xlabel("per-sequence perplexity under the gen-0 model")
        ax.set_ylabel("fraction of sequences (log-spaced bins)")
        ax.set_title(f"setting {setting}, seed {seed}", fontsize=10)
        ax.legend(fontsize=7, ncol=2)
    plots.save(fig, out / "histograms.png")


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def run_experiment(out: str | os.PathLike, preset: str = "cpu", *, overwrite: bool = False, progress: bool = True,
                   hook: Callable[[str], None] | None = None, **overrides) -> dict[str, Any]:
    """Run (or resume) the experiment in ``out`` and return the summary (also written to ``out``).

    ``hook(label)`` is called after every checkpoint (for tests that interrupt a run).
    """
    cfg = resolve_config(preset, **overrides)
    return Run(cfg, out, overwrite=overwrite).run(progress=progress, hook=hook)


__all__ = ["SETTINGS", "PRESETS", "PROMPTS", "INITS", "resolve_config", "setting_epochs", "mix_original", "base_model",
           "score_blocks", "mean_loss", "continue_blocks", "Run", "collect", "aggregate", "write_summary", "plot",
           "run_experiment"]
