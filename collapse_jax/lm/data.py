"""Data for the language-model experiment: wikitext-2 lines in, (N, 64) blocks of token ids out.

Three sources, all giving each split as a list of *rows* as the Hugging Face ``wikitext`` dataset
has them (a non-blank line ends with ``"\\n"``, a blank line is ``""``):

* ``"wikitext"``: ``datasets.load_dataset("wikitext", "wikitext-2-raw-v1")`` (the paper's path;
  needs the optional ``datasets`` package and the network, or its local cache);
* a directory of raw text files, one paragraph per line (``train.txt``, ``valid.txt``,
  ``test.txt``, or the original ``wiki.{train,valid,test}.raw`` names);
* explicit file names per split, which is how the ``cpu`` preset trains on the offline
  ``valid.txt`` (a held-out tail of it for validation) and tests on ``test.txt``.

Preprocessing is the paper's code's (the ``run_clm`` recipe): tokenize every row (OPT's tokenizer
prepends ``</s>`` to each, blank rows included), concatenate, cut into blocks of ``block_size``
tokens dropping the remainder; labels are the inputs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.errors import InputError, as_float, as_int

HF_DATASET = ("wikitext", "wikitext-2-raw-v1")
SPLITS = ("train", "valid", "test")
_FILE_NAMES = {
    "train": ("train.txt", "wiki.train.raw", "wiki.train.tokens"),
    "valid": ("valid.txt", "validation.txt", "wiki.valid.raw", "wiki.valid.tokens"),
    "test": ("test.txt", "wiki.test.raw", "wiki.test.tokens"),
}


def rows_from_text(text: str) -> list[str]:
    """Split raw text into wikitext rows: ``"line\\n"`` for a line with content, ``""`` for a blank one."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline does not start a row
    return [line + "\n" if line.strip() else "" for line in lines]


def read_rows(path: str | os.PathLike) -> list[str]:
    """The rows of one text file; a missing, unreadable or empty file is an :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read data file {path}: {err}") from None
    rows = rows_from_text(text)
    if not any(rows):
        raise InputError(f"data file {path} is empty (no line with text)")
    return rows


def find_split_file(directory: Path, split: str) -> Path | None:
    for name in _FILE_NAMES[split]:
        if (directory / name).is_file():
            return directory / name
    return None


def split_holdout(rows: Sequence[str], fraction: float) -> tuple[list[str], list[str]]:
    """Cut ``rows`` in two at an article boundary (a ``" = Title = "`` row) near ``1 - fraction``.

    The tail becomes the validation split; cutting at a heading keeps articles whole.
    """
    fraction = as_float("valid_fraction", fraction, minimum=0.0, maximum=0.5)
    if fraction == 0.0:
        raise InputError("valid_fraction must be > 0 when there is no validation file")
    target = int(round(len(rows) * (1.0 - fraction)))
    cut = target
    for i in range(target, len(rows)):
        if _is_title(rows[i]):
            cut = i
            break
    if not any(rows[cut:]) or not any(rows[:cut]):
        cut = target
    return list(rows[:cut]), list(rows[cut:])


def _is_title(row: str) -> bool:
    s = row.strip()
    return s.startswith("= ") and s.endswith(" =") and not s.startswith("= =")


def resolve_sources(data: Mapping[str, Any]) -> dict[str, Any]:
    """Check a data config and make its file paths absolute: ``{"source", "train", "valid", "test", ...}``.

    ``source`` is ``"wikitext"`` or a directory; ``train``/``valid``/``test`` name files inside that
    directory (default: the usual names; ``valid`` may be ``None`` to hold out ``valid_fraction`` of
    the training rows).
    """
    out = dict(data)
    source = out.get("source")
    if source == "wikitext":
        return out
    if not isinstance(source, (str, os.PathLike)) or not str(source):
        raise InputError(f"data source must be 'wikitext' or a directory of text files, got {source!r}")
    directory = Path(source).expanduser()
    if not directory.is_dir():
        raise InputError(f"data directory {directory} does not exist (expected 'wikitext' or a directory)")
    out["source"] = str(directory.resolve())
    for split in SPLITS:
        name = out.get(split, "auto")
        if split == "valid" and name is None:
            continue
        if name == "auto" or name is None:
            found = find_split_file(directory, split)
            if found is None:
                if split == "valid":
                    out[split] = None  # hold out part of the training rows
                    continue
                raise InputError(f"data directory {directory} has no {split} file "
                                 f"(looked for {', '.join(_FILE_NAMES[split])})")
            out[split] = found.name
        elif not (directory / name).is_file():
            raise InputError(f"data file {directory / name} does not exist")
    return out


def fingerprint(data: Mapping[str, Any]) -> dict[str, str]:
    """sha256 of each data file, so a run directory can tell when its data changed."""
    if data["source"] == "wikitext":
        return {"dataset": "/".join(HF_DATASET)}
    out = {}
    for split in SPLITS:
        name = data.get(split)
        if name:
            out[name] = hashlib.sha256((Path(data["source"]) / name).read_bytes()).hexdigest()
    return out


def load_rows(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """The train/valid/test rows of a resolved data config (see :func:`resolve_sources`)."""
    if data["source"] == "wikitext":
        return load_wikitext()
    directory = Path(data["source"])
    rows = {split: read_rows(directory / data[split]) for split in SPLITS if data.get(split)}
    if data.get("valid") in (None, ""):
        rows["train"], rows["valid"] = split_holdout(rows["train"], data.get("valid_fraction", 0.1))
    return rows


def load_wikitext() -> dict[str, list[str]]:
    """wikitext-2-raw-v1 through ``datasets`` (the paper's source)."""
    try:
        import datasets
    except ImportError:
        raise InputError("data source 'wikitext' needs the 'datasets' package (pip install 'collapse-jax[data]'), "
                         "or pass a directory of text files") from None
    try:
        ds = datasets.load_dataset(*HF_DATASET)
    except Exception as err:  # offline, no cache
        raise InputError(f"cannot load {'/'.join(HF_DATASET)} through datasets: {err}") from None
    names = {"train": "train", "valid": "validation", "test": "test"}
    return {split: list(ds[name]["text"]) for split, name in names.items()}


def tokenize_blocks(rows: Sequence[str], tokenizer, block_size: int = 64, *, name: str = "corpus") -> np.ndarray:
    """Tokenize each row, concatenate, cut into (N, block_size) int32 blocks (remainder dropped)."""
    block_size = as_int("block_size", block_size, minimum=2)
    rows = list(rows)
    if not rows:
        raise InputError(f"the {name} has no rows")
    ids = []
    chunk = 2048
    for start in range(0, len(rows), chunk):
        ids.extend(tokenizer(rows[start:start + chunk])["input_ids"])
    flat = np.fromiter((t for row in ids for t in row), dtype=np.int64)
    n = flat.size // block_size
    if n < 1:
        raise InputError(f"the {name} has {flat.size} tokens, fewer than one block of {block_size}")
    return flat[: n * block_size].reshape(n, block_size).astype(np.int32)


def limit_blocks(blocks: np.ndarray, limit: int | None) -> np.ndarray:
    """The first ``limit`` blocks (contiguous text), or all of them when ``limit`` is None."""
    if limit is None:
        return blocks
    return blocks[: as_int("block limit", limit, minimum=1)]


# ------------------------------------------------------------------------------------ diversity


def ngram_codes(ids_NxL: np.ndarray, n: int, vocab: int) -> np.ndarray:
    """Each n-gram of each row as one int64 (N, L - n + 1); exact while vocab**n < 2**63."""
    ids = np.asarray(ids_NxL, np.int64)
    if vocab ** n >= 2 ** 63:
        raise InputError(f"{n}-grams over a vocabulary of {vocab} do not fit in 64 bits")
    width = ids.shape[1] - n + 1
    codes = np.zeros((ids.shape[0], max(width, 0)), np.int64)
    for j in range(n):
        codes = codes * vocab + ids[:, j: j + width]
    return codes


def diversity(ids_NxL: np.ndarray, vocab: int, orders: Sequence[int] = (1, 2, 3, 4)) -> dict[str, float]:
    """distinct-n (unique n-grams / all n-grams, over the whole dataset) and repeat-n (the share of
    n-grams that already occurred earlier in the same sequence), for each n in ``orders``."""
    out: dict[str, float] = {}
    for n in orders:
        codes = ngram_codes(ids_NxL, n, vocab)
        if codes.size == 0:
            continue
        out[f"distinct_{n}"] = float(np.unique(codes).size / codes.size)
        srt = np.sort(codes, axis=1)
        repeats = np.sum(srt[:, 1:] == srt[:, :-1])
        out[f"repeat_{n}"] = float(repeats / codes.size)
    return out


__all__ = ["HF_DATASET", "SPLITS", "rows_from_text", "read_rows", "split_holdout", "resolve_sources", "fingerprint",
           "load_rows", "load_wikitext", "tokenize_blocks", "limit_blocks", "ngram_codes", "diversity"]
