"""One generation of the ``cpu`` LM preset: wall time split into training, generation and evaluation,
and the throughput of each against transformers/PyTorch doing the same work at the same size.

    python -m benchmarks.lm_generation                 # the full generation + the side-by-side
    python -m benchmarks.lm_generation --skip-driver   # only the side-by-side throughputs

Part 1 runs the driver (``collapse_jax.lm.recursion``) for one generation of setting 1 of the cpu
preset (5 epochs on 512 blocks, evaluation, 5-beam generation of 64 tokens after every training
block) and prints its own timings, compile time included.

Part 2 times the same three kinds of work on both sides with the same weights (the torch model is
built, then loaded into JAX), the same config (the cpu preset's model and vocabulary), the same batch
sizes, steady state (after one warm-up call, which holds JAX's compile time, reported apart):

* training: AdamW steps with dropout, batch 32 x 64 tokens (tokens/s);
* generation: 5-beam search, exactly 64 new tokens, repetition penalty 3.0, 128 prompts of 64
  tokens per call (new tokens/s; HF ``generate`` with the same arguments);
* evaluation: per-sequence NLL of 128 blocks of 64 tokens per call (tokens/s).

Ratios are JAX / PyTorch measured in one run; torch uses as many threads as JAX has CPU cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def driver_generation(out: str) -> dict:
    from collapse_jax.lm import recursion
    from collapse_jax.core.rundir import read_json

    t0 = time.perf_counter()
    recursion.run_experiment(out, "cpu", overwrite=True, progress=False, settings=["1"], generations=1,
                             generate_last=True)
    wall = time.perf_counter() - t0
    m = read_json(os.path.join(out, "setting1", "seed0", "gen_00", "metrics.json"))
    return {"wall_s": wall, **m["timings"], "test_ppl": m["test_ppl"]}


def side_by_side(args) -> list[tuple]:
    import jax
    import torch
    import transformers

    from collapse_jax import lm
    from collapse_jax.lm import recursion

    cfg = recursion.resolve_config("cpu")
    m = cfg["model"]
    vocab = recursion._round_up(cfg["tokenizer"]["vocab_size"])
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    hf = transformers.OPTConfig(vocab_size=vocab, hidden_size=m["hidden_size"], num_hidden_layers=m["num_layers"],
                                num_attention_heads=m["num_heads"], ffn_dim=m["ffn_dim"],
                                max_position_embeddings=m["max_positions"], word_embed_proj_dim=m["hidden_size"],
                                dropout=m["dropout"])
    torch_model = transformers.OPTForCausalLM(hf)
    with tempfile.TemporaryDirectory() as tmp:
        torch_model.save_pretrained(tmp)
        model, _ = lm.load_model(tmp)
    rng = np.random.default_rng(0)
    block, new, beams, pen = cfg["block_size"], cfg["new_tokens"], cfg["num_beams"], cfg["repetition_penalty"]
    rows = []

    # ---------------------------------------------------------------- generation (same weights on both sides)
    gb = cfg["gen_batch_size"]
    prompts = rng.integers(4, vocab - 8, size=(gb, block)).astype(np.int32)
    t0 = time.perf_counter()
    jax.block_until_ready(recursion.continue_blocks(model, prompts, cfg))
    compile_gen = time.perf_counter() - t0
    jax_gen = _median(lambda: recursion.continue_blocks(model, prompts, cfg), args.repeats)
    torch_model.eval()

    def torch_generate():
        with torch.no_grad():
            torch_model.generate(torch.tensor(prompts, dtype=torch.long), num_beams=beams, max_new_tokens=new,
                                 min_new_tokens=new, repetition_penalty=pen, do_sample=False,
                                 attention_mask=torch.ones(prompts.shape, dtype=torch.long))

    torch_gen = _median(torch_generate, max(1, args.repeats - 1))
    rows.append(("generation (5 beams, 64 new)", gb * new / jax_gen, gb * new / torch_gen, compile_gen))

    # ---------------------------------------------------------------- evaluation
    eb = cfg["eval_batch_size"]
    blocks = rng.integers(4, vocab - 8, size=(eb, block)).astype(np.int32)
    t0 = time.perf_counter()
    recursion.score_blocks(model, blocks, eb)
    compile_eval = time.perf_counter() - t0
    jax_eval = _median(lambda: recursion.score_blocks(model, blocks, eb), args.repeats)

    def torch_eval():
        with torch.no_grad():
            ids = torch.tensor(blocks, dtype=torch.long)
            logits = torch_model(ids).logits[:, :-1]
            torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                              reduction="none").view(eb, -1).sum(1).numpy()

    torch_eval_t = _median(torch_eval, args.repeats)
    rows.append(("evaluation (per-sequence NLL)", eb * block / jax_eval, eb * block / torch_eval_t, compile_eval))

    # ---------------------------------------------------------------- training (AdamW, dropout on)
    bs = cfg["batch_size"]
    batches = [rng.integers(4, vocab - 8, size=(bs, block)).astype(np.int32) for _ in range(args.steps + 1)]
    tx = lm.adamw(cfg["lr"], weight_decay=cfg["weight_decay"])
    state = lm.init_train_state(model, tx)
    step = lm.make_train_step(model, tx)
    t0 = time.perf_counter()
    state, met = step(state, {"input_ids": batches[0]})
    jax.block_until_ready(met)
    compile_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in batches[1:]:
        state, met = step(state, {"input_ids": b})
    jax.block_until_ready(met)
    jax_train = (time.perf_counter() - t0) / args.steps
    torch_model.train()
    opt = torch.optim.AdamW(torch_model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])

    def torch_step(b):
        ids = torch.tensor(b, dtype=torch.long)
        loss = torch_model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()

    torch_step(batches[0])
    t0 = time.perf_counter()
    for b in batches[1:]:
        torch_step(b)
    torch_train = (time.perf_counter() - t0) / args.steps
    rows.append(("training (AdamW step)", bs * block / jax_train, bs * block / torch_train, compile_train))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--skip-driver", action="store_true", help="only the side-by-side throughputs")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=8, help="timed training steps per side")
    p.add_argument("--out", default=None, help="run directory for the driver part (default: a temporary one)")
    args = p.parse_args(argv)
    import jax

    print(f"devices: {jax.devices()}, cpu cores: {os.cpu_count()}")
    if not args.skip_driver:
        with tempfile.TemporaryDirectory() as tmp:
            r = driver_generation(args.out or os.path.join(tmp, "run"))
        print("\none generation of the cpu preset (setting 1: 5 epochs, 512 blocks; compile included)")
        print(f"  training {r['train_s']:7.1f} s | evaluation {r['eval_s']:6.1f} s | generation "
              f"{r['generate_s']:6.1f} s | wall {r['wall_s']:6.1f} s (with tokenizer + data)  "
              f"test ppl {r['test_ppl']:.1f}")
    rows = side_by_side(args)
    print("\nsame work at the same size (cpu preset model), steady state, tokens/s")
    print(f"  {'work':32s} {'JAX':>10s} {'PyTorch':>10s} {'JAX/PT':>7s} {'JAX compile s':>14s}")
    for name, j, t, c in rows:
        print(f"  {name:32s} {j:10.0f} {t:10.0f} {j / t:7.2f} {c:14.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
