"""A Flax (nnx) port of OPT that matches Hugging Face token for token.

Typical use::

    from collapse_jax import lm
    model, config = lm.load_model("facebook/opt-125m")          # or a local HF directory
    out = lm.beam_search(model, prompts_Bx64, num_beams=5, max_new_tokens=64,
                         min_new_tokens=64, repetition_penalty=3.0)
    tx = lm.adamw(optax.linear_schedule(5e-5, 0.0, steps))
    state, step = lm.init_train_state(model, tx), lm.make_train_step(model, tx)
    state, metrics = step(state, {"input_ids": blocks_Bx64})
    lm.export_model(lm.update_model(model, state), "gen1/")
"""

from .generate import BeamSearchOutput, beam_search, generate
from .model import KVCache, ModelConfig, OPT, forward, init_cache, init_model, param_count, with_matmul_dtype
from .tokenizer import SPECIAL_TOKENS, check_tokenizer, load_tokenizer, train_tokenizer
from .train import (
    IGNORE_INDEX,
    TrainState,
    adamw,
    causal_lm_loss,
    evaluate_loss,
    init_train_state,
    loss_and_grad,
    make_train_step,
    perplexity,
    sequence_nll,
    token_nll,
    update_model,
)
from .weights import export_model, key_table, load_model, model_from_state_dict, state_dict_from_model
# the multi-generation experiment, built on the above
from .config import PRESETS, SETTINGS, resolve_config, setting_epochs
from .run import Run, run_experiment
from .report import aggregate, collect, table_markdown, write_summary
from .ablation import run_ablation
from . import recursion  # deprecated alias of the modules above

__all__ = [
    "BeamSearchOutput", "IGNORE_INDEX", "KVCache", "ModelConfig", "OPT", "SPECIAL_TOKENS", "TrainState", "adamw",
    "beam_search", "causal_lm_loss", "check_tokenizer", "evaluate_loss", "export_model", "forward", "generate", "init_cache",
    "init_model", "init_train_state", "key_table", "load_model", "load_tokenizer", "loss_and_grad",
    "make_train_step", "model_from_state_dict", "param_count", "perplexity", "recursion", "resolve_config",
    "run_experiment", "run_ablation", "Run", "PRESETS", "SETTINGS", "setting_epochs", "collect", "aggregate",
    "table_markdown", "write_summary", "sequence_nll",
    "state_dict_from_model", "token_nll", "train_tokenizer", "update_model", "with_matmul_dtype",
]
