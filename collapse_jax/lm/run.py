"""The driver of the paper's language-model experiment (Fig. 1b/1c): fine-tune, generate, fine-tune
on that, repeat; resumable from its last completed step.

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
    summary.csv, summary.json, summary.md, perplexity.png, histograms_setting{S}.png, samples.md

A generation is assembled in ``.gen_{G:02d}.partial/`` (training checkpoints after every epoch,
the exported model, evaluation, generated ids in chunks) and renamed into place when complete,
so a killed run continues from its last completed step. All randomness is a function of
(seed, setting, generation, epoch, step), so a resumed run is bit-identical to an uninterrupted one.
A damaged file met on resume is named in one line with what to do about it.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..core.cache import enable_compilation_cache
from ..core.errors import InputError, require
from ..core.progress import Progress
from ..core.rundir import RunDir, atomic_write_bytes, atomic_write_json, claim, read_json, versions
from . import data as data_mod
from .config import SETTINGS, config_changes, resolve_config, setting_epochs
from .model import ModelConfig, init_model
from .numerics import continue_blocks, epoch_cosine, int_seed, mean_loss, mix_original, padded_batches, score_blocks
from .numerics import stream
from .report import write_summary
from .tokenizer import check_tokenizer, load_tokenizer, train_tokenizer
from .train import adamw, init_train_state, make_train_step, update_model
from .weights import export_model, load_model, resolve

KIND = "lm"  # the run-directory kind (core.rundir.claim)
GROWABLE = ("seeds", "settings")  # config keys in which a resumed run may differ: they add chains


# --------------------------------------------------------------------------------------------
# Files: written atomically; read back with one clear line when damaged
# --------------------------------------------------------------------------------------------


def damaged(path: Path, err: BaseException, fix: str) -> InputError:
    reason = " ".join(str(err).split()) or type(err).__name__
    return InputError(f"{path} is damaged or truncated ({reason[:120]}); {fix}")


def read_npz(path: Path, fix: str, keys: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Every array of an .npz file; a truncated or corrupt file (or one missing ``keys``) is an InputError."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise damaged(path, err, fix) from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise damaged(path, KeyError(f"no {', '.join(missing)}"), fix)
    return arrays


def read_json_file(path: Path, fix: str, keys: Sequence[str] = ()) -> Any:
    """A JSON object; unreadable, invalid, not an object, or missing ``keys``: an InputError."""
    try:
        value = read_json(path)
    except (OSError, ValueError) as err:
        raise damaged(path, err, fix) from None
    if not isinstance(value, dict):
        raise damaged(path, ValueError(f"expected a JSON object, found {type(value).__name__}"), fix)
    missing = [k for k in keys if k not in value]
    if missing:
        raise damaged(path, KeyError(f"no {', '.join(missing)}"), fix)
    return value


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # uncompressed: checkpoints of OPT-125m are large, compression is slow
    atomic_write_bytes(path, buf.getvalue())


def _flat_leaves(tree) -> list[np.ndarray]:
    return [np.asarray(jax.device_get(x)) for x in jax.tree.leaves(tree)]


def _unflatten_like(tree, arrays: Sequence[np.ndarray], path: Path, fix: str):
    leaves, treedef = jax.tree.flatten(tree)
    if len(leaves) != len(arrays) or any(a.size != leaf.size for a, leaf in zip(arrays, leaves)):
        raise damaged(path, ValueError(f"{len(arrays)} arrays where the model has {len(leaves)}"), fix)
    return jax.tree.unflatten(treedef, [jnp.asarray(a, dtype=leaf.dtype).reshape(leaf.shape)
                                        for a, leaf in zip(arrays, leaves)])


def _group(arrays: Mapping[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    keys = sorted((k for k in arrays if k.startswith(prefix) and k[len(prefix):].isdigit()),
                  key=lambda k: int(k[len(prefix):]))
    return [arrays[k] for k in keys]


# --------------------------------------------------------------------------------------------
# Model and tokenizer
# --------------------------------------------------------------------------------------------


def _round_up(n: int, multiple: int = 8) -> int:
    return -(-n // multiple) * multiple


def model_config(cfg: Mapping[str, Any], tokenizer) -> ModelConfig:
    m = cfg["model"]
    return ModelConfig(vocab_size=_round_up(len(tokenizer)), hidden_size=m["hidden_size"], num_layers=m["num_layers"],
                       num_heads=m["num_heads"], ffn_dim=m["ffn_dim"], max_positions=m["max_positions"],
                       dropout=float(m.get("dropout", 0.1)))


def base_model(cfg: Mapping[str, Any], tokenizer, seed: int, setting: str, model_dir: Path | None = None):
    """The starting point of training: pretrained weights (from ``model_dir``, else the configured
    source), or a random init seeded per chain."""
    if cfg["model"]["source"] == "scratch":
        model = init_model(model_config(cfg, tokenizer), seed=int_seed(seed, setting, 0, "init"))
    else:
        model, _ = load_model(model_dir or cfg["model"]["source"])
    check_tokenizer(tokenizer, model.config)
    need = cfg["block_size"] + cfg["new_tokens"]
    require(model.config.max_positions >= need,
            f"the model has {model.config.max_positions} positions, fewer than block_size + new_tokens = {need}")
    return model


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


_STEP_CACHE: dict[tuple, tuple] = {}  # one compiled train step per (model config, schedule): every chain reuses it


class Run:
    """A run directory: prepares data and tokenizer once, then runs every (setting, seed) chain."""

    def __init__(self, cfg: Mapping[str, Any], out: str | os.PathLike, *, overwrite: bool = False):
        self.cfg = dict(cfg)
        self.out = self._open(out, overwrite)
        self.tokenizer = None
        self.model_dir: Path | None = None
        self.blocks: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- directory
    def _open(self, out: str | os.PathLike, overwrite: bool) -> RunDir:
        """Claim the run directory: resume a run of the same configuration, refuse anything else."""
        run = claim(out, KIND, overwrite=overwrite, resume=not overwrite, flag="--out", legacy="run.json")
        if run.resumed:
            old = read_json_file(run.path / "config.json",
                                 "move the run directory away, or pass --overwrite to start again",
                                 keys=GROWABLE)
            # Chains are independent: other seeds or settings may join a run; anything else may not.
            changes = config_changes({k: v for k, v in old.items() if k not in GROWABLE},
                                     {k: v for k, v in self.cfg.items() if k not in GROWABLE})
            if changes:
                raise InputError(f"{run.path} holds a run with another configuration ({changes}); refusing to "
                                 "resume it: choose another --out, or pass --overwrite to start again")
            grown = {k: list(old[k]) + [v for v in self.cfg[k] if v not in old[k]] for k in GROWABLE}
            if grown != {k: old[k] for k in GROWABLE}:
                atomic_write_json(run / "config.json", {**old, **grown})  # what the directory holds
            return run
        atomic_write_json(run / "run.json", {"versions": versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        atomic_write_json(run / "config.json", self.cfg)
        return run

    # ---------------------------------------------------------------- data
    def prepare(self) -> None:
        """Model source (found locally first, failing fast offline), tokenizer and blocks: built once,
        then read back from the run directory."""
        cfg = self.cfg
        source = cfg["model"]["source"]
        if source != "scratch":
            self.model_dir = resolve(source)
        tok_dir = self.out / "tokenizer"
        data_path = self.out / "data.npz"
        rows = None
        if not tok_dir.is_dir():
            tok_source = cfg["tokenizer"]["source"]
            staging = self.out / ".tokenizer.partial"
            shutil.rmtree(staging, ignore_errors=True)
            if tok_source == "train":
                rows = data_mod.load_rows(cfg["data"])
                train_tokenizer(rows["train"], cfg["tokenizer"]["vocab_size"], directory=staging)
            else:
                load_tokenizer(self.model_dir if tok_source == "model" else tok_source).save_pretrained(str(staging))
            os.replace(staging, tok_dir)
        try:
            self.tokenizer = load_tokenizer(tok_dir)
        except InputError as err:
            raise damaged(tok_dir, err, "pass --overwrite to start again") from None
        if not data_path.is_file():
            rows = rows or data_mod.load_rows(cfg["data"])
            blocks = {}
            for split in data_mod.SPLITS:
                full = data_mod.tokenize_blocks(rows[split], self.tokenizer, cfg["block_size"], name=f"{split} split")
                blocks[split] = data_mod.limit_blocks(full, cfg["limits"][split])
            save_npz(data_path, blocks)
        self.blocks = read_npz(data_path, "delete it and run again to rebuild it from the corpus",
                               keys=data_mod.SPLITS)
        n = self.blocks["train"].shape[0]
        require(cfg["batch_size"] <= n, f"batch_size {cfg['batch_size']} is larger than the {n} training blocks")
        for split in ("valid", "test"):
            require(self.blocks[split].shape[0] >= 1, f"the {split} split has no complete block")

    # ---------------------------------------------------------------- work estimate (progress / ETA)
    def units(self, setting: str) -> dict[str, float]:
        """Work of one generation in token-passes (a backward pass counts two)."""
        cfg, n = self.cfg, self.blocks["train"].shape[0]
        t = cfg["block_size"]
        epoch = 3 * n * t + self.blocks["valid"].shape[0] * t
        gen = 2 * cfg["num_beams"] * n * (t + cfg["new_tokens"])
        ev = (self.blocks["test"].shape[0] + 2 * n) * t
        return {"epoch": epoch, "gen": gen, "eval": ev, "epochs": setting_epochs(cfg, setting)}

    def generates(self, g: int) -> bool:
        return g < self.cfg["generations"] - 1 or self.cfg["generate_last"]

    def _total_units(self) -> tuple[float, float]:
        total = done = 0.0
        for setting in self.cfg["settings"]:
            u = self.units(setting)
            for seed in self.cfg["seeds"]:
                for g in range(self.cfg["generations"]):
                    units = u["epoch"] * u["epochs"] + u["eval"] + (u["gen"] if self.generates(g) else 0)
                    total += units
                    if (self.chain_dir(setting, seed) / f"gen_{g:02d}").is_dir():
                        done += units
        return total, done

    def chain_dir(self, setting: str, seed: int) -> Path:
        return self.out / f"setting{setting}" / f"seed{seed}"

    # ---------------------------------------------------------------- everything
    def run(self, *, progress: bool = True, hook: Callable[[str], None] | None = None,
            desc: str | None = None) -> dict[str, Any]:
        """Run every chain that is not complete, then write the summary; ``hook(label)`` is called
        after every checkpoint, ``desc`` labels the progress bar."""
        enable_compilation_cache()
        try:
            self.prepare()
        except InputError as err:
            self.out.discard()  # bad data or options: leave nothing behind that this run made
            raise InputError(" ".join(str(err).split())) from None  # one line, whatever the library said
        total, done = self._total_units()
        with Progress(total, desc or f"lm {self.cfg['preset']}", unit="tok", enabled=progress, initial=done) as bar:
            for setting in self.cfg["settings"]:
                for seed in self.cfg["seeds"]:
                    _Chain(self, setting, seed, bar, hook).run()
        return write_summary(self.out)


class _Chain:
    """One (setting, seed) chain of generations."""

    def __init__(self, run: Run, setting: str, seed: int, bar: Progress, hook: Callable[[str], None] | None):
        self.run_ = run
        self.cfg = run.cfg
        self.setting = setting
        self.seed = seed
        self.bar = bar
        self.hook = hook
        self.dir = run.chain_dir(setting, seed)
        self.units = run.units(setting)
        self.real = run.blocks["train"]
        self._model0 = None

    def gen_dir(self, g: int) -> Path:
        return self.dir / f"gen_{g:02d}"

    def checkpoint(self, label: str) -> None:
        if self.hook is not None:
            self.hook(label)

    def _redo(self, g: int) -> str:
        return f"delete {self.gen_dir(g)} and run again to recompute that generation (bit-identically)"

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
        path = self.gen_dir(g - 1) / "data.npz"
        generated = read_npz(path, self._redo(g - 1), keys=("generated",))["generated"]
        if generated.shape != self.real.shape:
            raise damaged(path, ValueError(f"generated blocks of shape {generated.shape}, expected {self.real.shape}"),
                          self._redo(g - 1))
        keep = SETTINGS[self.setting]["keep_original"]
        mixed, idx = mix_original(generated, self.real, keep, stream(self.seed, self.setting, g, "mix"))
        return mixed, generated, idx

    def load(self, directory: Path, fix: str):
        try:
            model, _ = load_model(directory)
        except InputError as err:
            raise damaged(directory, err, fix) from None
        return model

    def start_model(self, g: int):
        if g > 0 and self.cfg["init"] == "previous":
            return self.load(self.gen_dir(g - 1) / "model", self._redo(g - 1))
        return base_model(self.cfg, self.run_.tokenizer, self.seed, self.setting, self.run_.model_dir)

    def model0(self, current, g: int):
        if g == 0:
            return current
        if self._model0 is None:
            self._model0 = self.load(self.gen_dir(0) / "model", self._redo(0))
        return self._model0

    def generation(self, g: int) -> None:
        cfg, bar = self.cfg, self.bar
        partial = self.dir / f".gen_{g:02d}.partial"
        partial.mkdir(parents=True, exist_ok=True)
        redo = f"delete {partial} and run again to redo this generation"
        label = f"setting {self.setting} seed {self.seed} gen {g}"
        train, generated, kept = self.training_data(g)
        timings = read_json_file(partial / "timings.json", redo) if (partial / "timings.json").is_file() else {}

        # 1. train (checkpoint after every epoch), export the best epoch's model
        if not (partial / "model").is_dir():
            t0 = time.perf_counter()
            model, history = self.train(g, train, partial, label, redo)
            atomic_write_json(partial / "history.json", history)  # before the model: its presence means done
            export_model(model, partial / "model", tokenizer=self.run_.tokenizer)
            timings["train_s"] = timings.get("train_s", 0.0) + time.perf_counter() - t0
            atomic_write_json(partial / "timings.json", timings)
            (partial / "train_state.npz").unlink(missing_ok=True)
            (partial / "train_history.json").unlink(missing_ok=True)
            self.checkpoint(f"{label}: model")
        else:
            bar.update(self.units["epoch"] * self.units["epochs"])
        model = self.load(partial / "model", redo)
        history = read_json_file(partial / "history.json", redo, keys=("train_loss", "valid_loss", "best_epoch"))

        # 2. evaluate: test perplexity, per-sequence perplexity of the training data under model 0,
        #    diversity, sample continuations
        if not (partial / "eval.json").is_file():
            t0 = time.perf_counter()
            bar.describe(f"{label}: evaluate")
            evaluation, per_seq = self.evaluate(g, model, generated)
            save_npz(partial / "scores.npz", per_seq)
            timings["eval_s"] = time.perf_counter() - t0
            atomic_write_json(partial / "timings.json", timings)
            atomic_write_json(partial / "eval.json", evaluation)
            self.checkpoint(f"{label}: eval")
        bar.update(self.units["eval"])
        evaluation = read_json_file(partial / "eval.json", redo, keys=("test_loss", "test_ppl"))

        # 3. generate the next generation's data (in chunks, each saved)
        scores = read_npz(partial / "scores.npz", redo, keys=("data_ppl_gen0",))
        arrays = {"train": train, "kept_original": kept, **scores}
        if self.run_.generates(g):
            t0 = time.perf_counter()
            prompts = train if cfg["prompts"] == "train" else self.real
            arrays["generated"] = self.generate(model, prompts, partial, label, redo)
            timings["generate_s"] = timings.get("generate_s", 0.0) + time.perf_counter() - t0
            atomic_write_json(partial / "timings.json", timings)
        save_npz(partial / "data.npz", arrays)

        metrics = {"setting": self.setting, "seed": self.seed, "generation": g,
                   "epochs": setting_epochs(cfg, self.setting), **history, **evaluation,
                   "kept_original": int(kept.size), "train_blocks": int(train.shape[0]), "timings": timings}
        atomic_write_json(partial / "metrics.json", metrics)
        final = self.gen_dir(g)
        os.replace(partial, final)  # the generation is complete from here on
        for name in ("generated.partial.npz", "scores.npz", "eval.json", "history.json", "timings.json"):
            (final / name).unlink(missing_ok=True)  # working files (a kill here only leaves them behind)
        self.checkpoint(f"{label}: done")

    # ---------------------------------------------------------------- training
    def train(self, g: int, train: np.ndarray, partial: Path, label: str, redo: str):
        cfg, bar = self.cfg, self.bar
        epochs = setting_epochs(cfg, self.setting)
        n, bs = train.shape[0], cfg["batch_size"]
        require(bs <= n, f"batch_size {bs} is larger than the {n} training blocks")
        steps_per_epoch = -(-n // bs)
        lr0, eta_min = cfg["lr"], cfg["eta_min"]

        model = self.start_model(g)
        key = (model.config, epochs, steps_per_epoch, lr0, eta_min, cfg["weight_decay"])
        if key not in _STEP_CACHE:  # one compiled train step serves every generation of a chain
            tx = adamw(epoch_cosine(lr0, eta_min, epochs, steps_per_epoch), weight_decay=cfg["weight_decay"])
            _STEP_CACHE[key] = (tx, make_train_step(model, tx))
        tx, step = _STEP_CACHE[key]
        state = init_train_state(model, tx, seed=int_seed(self.seed, self.setting, g, "dropout"))
        history = {"train_loss": [], "valid_loss": [], "best_epoch": -1, "best_valid_loss": math.inf}
        best = None
        start_epoch = 0
        ckpt = partial / "train_state.npz"
        if ckpt.is_file():
            arrays = read_npz(ckpt, redo, keys=("step",))
            params = _unflatten_like(state.params, _group(arrays, "p"), ckpt, redo)
            opt_state = _unflatten_like(state.opt_state, _group(arrays, "o"), ckpt, redo)
            best = _unflatten_like(state.params, _group(arrays, "b"), ckpt, redo)
            state = state._replace(params=params, opt_state=opt_state, step=jnp.asarray(arrays["step"], jnp.int32))
            history = read_json_file(partial / "train_history.json", redo, keys=("train_loss", "valid_loss"))
            start_epoch = len(history["train_loss"])
            bar.update(self.units["epoch"] * start_epoch)
        valid = self.run_.blocks["valid"]
        for epoch in range(start_epoch, epochs):
            bar.describe(f"{label}: epoch {epoch + 1}/{epochs}")
            order = stream(self.seed, self.setting, g, "shuffle", epoch).permutation(n)
            losses = []
            for b in range(steps_per_epoch):
                idx = order[b * bs:(b + 1) * bs]
                state, metrics = step(state, {"input_ids": train[idx]})
                losses.append(metrics["loss"] * len(idx))
                bar.update(3 * len(idx) * train.shape[1])
            train_loss = float(sum(float(x) for x in losses) / n)
            update_model(model, state)
            valid_loss = mean_loss(*score_blocks(model, valid, cfg["eval_batch_size"]))
            bar.update(valid.shape[0] * valid.shape[1])
            history["train_loss"].append(train_loss)
            history["valid_loss"].append(valid_loss)
            if best is None or valid_loss < history["best_valid_loss"]:
                history["best_valid_loss"], history["best_epoch"] = valid_loss, epoch
                best = jax.tree.map(jnp.copy, state.params)
            arrays = {"step": np.asarray(int(state.step))}
            for prefix, tree in (("p", state.params), ("o", state.opt_state), ("b", best)):
                arrays.update({f"{prefix}{i}": a for i, a in enumerate(_flat_leaves(tree))})
            save_npz(ckpt, arrays)
            atomic_write_json(partial / "train_history.json", history)
            self.checkpoint(f"{label}: epoch {epoch}")
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
    def generate(self, model, prompts: np.ndarray, partial: Path, label: str, redo: str) -> np.ndarray:
        cfg, bar = self.cfg, self.bar
        path = partial / "generated.partial.npz"
        n, bs = prompts.shape[0], cfg["gen_batch_size"]
        out = np.zeros((n, cfg["new_tokens"]), np.int32)
        done = 0
        if path.is_file():
            saved = read_npz(path, redo, keys=("ids", "done"))
            done = int(saved["done"])
            if not 0 <= done <= n or saved["ids"].shape != (done, cfg["new_tokens"]):
                raise damaged(path, ValueError(f"{done} rows recorded, ids of shape {saved['ids'].shape}"), redo)
            out[:done] = saved["ids"][:done]
        per_row = self.units["gen"] / n
        bar.update(per_row * done)
        chunks = 0
        for start, count, batch in padded_batches(prompts, bs):
            if start < done:
                continue
            bar.describe(f"{label}: generate {start + count}/{n}")
            out[start:start + count] = continue_blocks(model, batch, cfg)[:count]
            bar.update(per_row * count)
            chunks += 1
            if chunks % cfg["checkpoint_chunks"] == 0 or start + count == n:
                save_npz(path, {"ids": out[:start + count], "done": np.asarray(start + count)})
                self.checkpoint(f"{label}: generated {start + count}")
        return out


def run_experiment(out: str | os.PathLike, preset: str = "cpu", *, overwrite: bool = False, progress: bool = True,
                   hook: Callable[[str], None] | None = None, **overrides) -> dict[str, Any]:
    """Run (or resume) the experiment in ``out`` and return the summary (also written to ``out``).

    ``hook(label)`` is called after every checkpoint (for tests that interrupt a run).
    """
    cfg = resolve_config(preset, **overrides)
    return Run(cfg, out, overwrite=overwrite).run(progress=progress, hook=hook)


__all__ = ["KIND", "Run", "run_experiment", "base_model", "model_config", "read_npz", "read_json_file", "save_npz"]
