"""Hugging Face OPT checkpoints in and out.

The table between PyTorch state-dict keys and nnx parameter paths is derived from the model's own
parameter paths by one rule (``kernel`` ↔ transposed ``weight``, ``scale``/``embedding`` ↔
``weight``), so it is a bijection by construction; the tests check it equals transformers' key set.
Loading consumes every checkpoint key exactly once, or fails listing the unused, missing and
mis-shaped keys; no partial model is ever returned.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np
from flax import nnx

from ..core.errors import InputError
from ..core.rundir import atomic_write_bytes, to_json
from .model import OPT, ModelConfig

PREFIX = "model."  # transformers' OPTForCausalLM wraps the decoder in `model`
HEAD_KEY = "lm_head.weight"  # tied to the token embedding; optional in checkpoints
_LEAF_TO_TORCH = {"kernel": "weight", "scale": "weight", "embedding": "weight", "bias": "bias"}


def _abstract_model(config: ModelConfig) -> OPT:
    return nnx.eval_shape(lambda: OPT(config, rngs=nnx.Rngs(0)))


def key_table(config: ModelConfig) -> dict[str, tuple[tuple[Any, ...], bool]]:
    """``torch key (without 'model.') -> (nnx path, transpose?)`` for every parameter of ``config``."""
    table: dict[str, tuple[tuple[Any, ...], bool]] = {}
    flat = nnx.to_flat_state(nnx.state(_abstract_model(config), nnx.Param))
    for path, _ in flat:
        leaf = path[-1]
        torch_key = "decoder." + ".".join(str(p) for p in path[:-1]) + "." + _LEAF_TO_TORCH[leaf]
        if torch_key in table:  # the rule must stay injective
            raise AssertionError(f"two parameters map to {torch_key}")
        table[torch_key] = (tuple(path), leaf == "kernel")
    return table


def model_from_state_dict(config: ModelConfig, state_dict: Mapping[str, np.ndarray], source: str = "checkpoint") -> OPT:
    """Build an :class:`OPT` from a PyTorch-style state dict (numpy arrays; any float dtype)."""
    table = key_table(config)
    abstract_model = _abstract_model(config)
    graphdef, abstract_state = nnx.split(abstract_model)
    abstract_flat = dict(nnx.to_flat_state(abstract_state))

    arrays: dict[str, np.ndarray] = {}
    duplicates: list[str] = []
    for key, value in state_dict.items():
        bare = key[len(PREFIX):] if key.startswith(PREFIX) else key
        if bare in arrays:
            duplicates.append(bare)
        arrays[bare] = value
    head = arrays.pop(HEAD_KEY, None)

    missing = sorted(set(table) - set(arrays))
    unused = sorted(set(arrays) - set(table))
    mismatched = []
    for key in sorted(set(table) & set(arrays)):
        path, transpose = table[key]
        shape = tuple(abstract_flat[path].shape)
        expected = shape[::-1] if transpose else shape
        if tuple(arrays[key].shape) != expected:
            mismatched.append(f"{key}: checkpoint {tuple(arrays[key].shape)} vs config {expected}")
    embed_key = "decoder.embed_tokens.weight"
    if head is not None and embed_key in arrays and not mismatched:
        if head.shape != arrays[embed_key].shape or not np.allclose(
            np.asarray(head, np.float32), np.asarray(arrays[embed_key], np.float32)
        ):
            mismatched.append(f"{HEAD_KEY}: differs from {embed_key} (only tied output heads are supported)")
    problems = []
    if duplicates:
        problems.append("keys given both with and without 'model.': " + ", ".join(sorted(duplicates)))
    if missing:
        problems.append("missing keys: " + ", ".join(missing))
    if unused:
        problems.append("unused keys: " + ", ".join(unused))
    if mismatched:
        problems.append("shapes disagree with the config: " + "; ".join(mismatched))
    if problems:
        raise InputError(f"{source} does not match the OPT config ({config.num_layers} layers, "
                         f"d={config.hidden_size}, vocab {config.vocab_size}): " + " | ".join(problems))

    for key, (path, transpose) in table.items():
        value = np.asarray(arrays[key])
        if not np.issubdtype(value.dtype, np.floating):
            raise InputError(f"{source}: {key} has dtype {value.dtype}, expected floating point")
        value = value.astype(np.float32)
        if not np.all(np.isfinite(value)):
            raise InputError(f"{source}: {key} contains NaN or infinite values")
        abstract_flat[path].set_value(jax.numpy.asarray(value.T if transpose else value))
    return nnx.merge(graphdef, abstract_state)


def state_dict_from_model(model: OPT) -> dict[str, np.ndarray]:
    """The transformers v5 state dict (``model.decoder.*``, float32, no ``lm_head``) of ``model``."""
    flat = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
    out = {}
    for key, (path, transpose) in key_table(model.config).items():
        value = np.asarray(jax.device_get(flat[path][...]), np.float32)
        out[PREFIX + key] = np.ascontiguousarray(value.T if transpose else value)
    return out


def _read_config(directory: Path) -> ModelConfig:
    path = directory / "config.json"
    if not path.is_file():
        raise InputError(f"{directory} has no config.json; expected a Hugging Face OPT model directory")
    try:
        hf = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is not readable JSON: {err}") from None
    return ModelConfig.from_hf(hf)


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except Exception as err:  # corrupt file, unsupported dtype (bf16 has no numpy type) ...
        raise InputError(f"cannot read {path}: {err}") from None


def _read_torch_bin(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise InputError(
            f"{path} is a PyTorch checkpoint and torch is not installed; install torch, or convert it to "
            "model.safetensors"
        ) from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise InputError(f"cannot read {path}: {err}") from None
    return {k: v.detach().float().numpy() for k, v in state.items()}


def read_state_dict(directory: Path) -> dict[str, np.ndarray]:
    """The weights of a local directory: model.safetensors, a sharded safetensors index, or pytorch_model.bin."""
    single = directory / "model.safetensors"
    index = directory / "model.safetensors.index.json"
    torch_bin = directory / "pytorch_model.bin"
    if single.is_file():
        return _read_safetensors(single)
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, json.JSONDecodeError, KeyError, AttributeError) as err:
            raise InputError(f"{index} is not a valid safetensors index: {err}") from None
        out: dict[str, np.ndarray] = {}
        for shard in shards:
            if not (directory / shard).is_file():
                raise InputError(f"{index} names {shard}, which is missing from {directory}")
            out.update(_read_safetensors(directory / shard))
        return out
    if torch_bin.is_file():
        return _read_torch_bin(torch_bin)
    raise InputError(
        f"{directory} has no weights: expected model.safetensors, model.safetensors.index.json or pytorch_model.bin"
    )


def _proxied() -> bool:
    return any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))


def hub_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """Whether the Hub's host accepts a TCP connection within ``timeout`` seconds (True behind a proxy,
    which this cannot judge). Offline, name resolution fails at once; huggingface_hub would instead
    retry for about a minute before giving up."""
    if _proxied():
        return True
    parsed = urllib.parse.urlparse(endpoint)
    host = parsed.hostname
    if not host:
        return True
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _cached(hub_id: str, revision: str | None) -> Path | None:
    """The local snapshot of a Hub repository in huggingface_hub's cache, without touching the network."""
    import huggingface_hub

    try:
        local = Path(huggingface_hub.snapshot_download(hub_id, revision=revision, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError), or an invalid id
        return None
    return local if (local / "config.json").is_file() else None


def _download(hub_id: str, revision: str | None) -> Path:
    """Config and weights of a Hub repository: from huggingface_hub's cache if there, else fetched.

    Offline (``HF_HUB_OFFLINE=1``, or the Hub's host unreachable) a model that is not cached fails
    at once with one line, rather than after huggingface_hub's retries."""
    import huggingface_hub
    from huggingface_hub import constants

    cached = _cached(hub_id, revision)
    if cached is not None:
        return cached
    if constants.HF_HUB_OFFLINE:
        raise InputError(f"{hub_id!r} is not a local directory and not in the Hugging Face cache, and the Hub is "
                         "switched off (HF_HUB_OFFLINE=1); pass a local model directory, or download it once online")
    if not hub_reachable(constants.ENDPOINT):
        raise InputError(f"{hub_id!r} is not a local directory and not in the Hugging Face cache, and "
                         f"{constants.ENDPOINT} cannot be reached (offline?); pass a local model directory, "
                         "or download it once online")
    try:
        files = set(huggingface_hub.list_repo_files(hub_id, revision=revision))
    except Exception as err:
        raise InputError(f"{hub_id!r} is neither a local directory nor a reachable Hub model id: {err}") from None
    wanted = ["config.json"]
    if "model.safetensors" in files:
        wanted.append("model.safetensors")
    elif "model.safetensors.index.json" in files:
        wanted.append("model.safetensors.index.json")
        wanted += [f for f in files if f.endswith(".safetensors")]
    elif "pytorch_model.bin" in files:
        wanted.append("pytorch_model.bin")
    try:
        local = huggingface_hub.snapshot_download(hub_id, revision=revision, allow_patterns=wanted)
    except Exception as err:
        raise InputError(f"cannot download {hub_id!r} from the Hub: {err}") from None
    return Path(local)


def resolve(path_or_hub_id: str | os.PathLike, revision: str | None = None) -> Path:
    """A local directory for a directory path or a Hub id (``facebook/opt-125m``)."""
    path = Path(path_or_hub_id)
    if path.is_dir():
        return path
    text = str(path_or_hub_id)
    looks_local = path.exists() or text.startswith((".", "/", "~")) or text.count("/") != 1 or os.sep in text[:1]
    if looks_local:
        raise InputError(f"{text} is not a directory; expected a model directory or a Hub id such as facebook/opt-125m")
    return _download(text, revision)


def load_model(path_or_hub_id: str | os.PathLike, *, revision: str | None = None) -> tuple[OPT, ModelConfig]:
    """An :class:`OPT` (eval mode, float32) and its config from a directory or a Hub id."""
    directory = resolve(path_or_hub_id, revision)
    config = _read_config(directory)
    state_dict = read_state_dict(directory)
    model = model_from_state_dict(config, state_dict, source=str(directory))
    return model, config


def export_model(model: OPT, directory: str | os.PathLike, *, tokenizer=None, overwrite: bool = False) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (and the tokenizer, if given) that transformers loads.

    The directory is assembled under a temporary name next to the target and renamed into place,
    so a reader never sees half an export; an existing non-empty directory is kept unless ``overwrite``.
    """
    from safetensors.numpy import save as save_safetensors

    if not isinstance(model, OPT):
        raise InputError(f"export_model expects an OPT model, got {type(model).__name__}")
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise InputError(f"{target} already exists and is not empty; pass overwrite=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        atomic_write_bytes(staging / "config.json", to_json(model.config.to_hf()).encode("utf-8"))
        atomic_write_bytes(staging / "model.safetensors",
                           save_safetensors(state_dict_from_model(model), metadata={"format": "pt"}))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(staging))
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
            os.rmdir(old)
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
