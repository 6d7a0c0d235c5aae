"""Tokenizers: OPT's own from a directory or the Hub, or a small byte-level BPE trained offline.

OPT's tokenizer is GPT-2's byte-level BPE with ids ``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3;
BOS, EOS and UNK are all ``</s>``, and every encoded text starts with ``</s>`` (id 2).
:func:`train_tokenizer` builds one with the same special ids and BOS behaviour.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

from ..core.errors import InputError, as_int
from .model import ModelConfig
from .weights import hub_reachable

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3, as in OPT


def _opt_tokenizer(vocab_file: str, merges_file: str):
    from transformers import GPT2Tokenizer

    return GPT2Tokenizer(vocab=vocab_file, merges=merges_file, bos_token="</s>", eos_token="</s>",
                         unk_token="</s>", pad_token="<pad>", add_bos_token=True)


def train_tokenizer(texts: Iterable[str], vocab_size: int, *, min_frequency: int = 2,
                    directory: str | os.PathLike | None = None):
    """Train a byte-level BPE on ``texts`` with OPT's special tokens; optionally save it to ``directory``."""
    from tokenizers import ByteLevelBPETokenizer

    vocab_size = as_int("vocab_size", vocab_size, minimum=len(SPECIAL_TOKENS) + 256)
    min_frequency = as_int("min_frequency", min_frequency, minimum=1)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=min_frequency,
                            special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        bpe.save_model(tmp)
        tokenizer = _opt_tokenizer(os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt"))
        if directory is not None:
            tokenizer.save_pretrained(str(directory))
    return tokenizer


def check_tokenizer(tokenizer, config: ModelConfig) -> None:
    """Refuse a tokenizer whose ids do not all fit the model's embedding table."""
    size = len(tokenizer)
    if size > config.vocab_size:
        raise InputError(f"the tokenizer has {size} tokens but the model's vocabulary has {config.vocab_size} rows")


def load_tokenizer(path_or_hub_id: str | os.PathLike, config: ModelConfig | None = None):
    """``AutoTokenizer`` from a directory or a Hub id, checked against ``config`` when given."""
    from transformers import AutoTokenizer

    path = Path(path_or_hub_id)
    if str(path_or_hub_id).startswith((".", "/", "~")) and not path.is_dir():
        raise InputError(f"{path_or_hub_id} is not a directory; expected a tokenizer directory or a Hub id")
    kwargs = {}
    if not path.is_dir():  # a Hub id: offline, use the local cache only (one line at once, not a minute of retries)
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE or not hub_reachable(constants.ENDPOINT):
            kwargs["local_files_only"] = True
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path_or_hub_id), **kwargs)
    except Exception as err:  # missing files, offline Hub, unknown id
        offline = " (offline: only the local Hugging Face cache was searched)" if kwargs else ""
        reason = " ".join(str(err).split())[:200]
        raise InputError(f"cannot load a tokenizer from {str(path_or_hub_id)!r}{offline}: {reason}") from None
    if config is not None:
        check_tokenizer(tokenizer, config)
    return tokenizer
