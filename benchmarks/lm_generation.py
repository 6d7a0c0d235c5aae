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

Two projections from measured unit costs (JAX only, compile time reported apart):

    python -m benchmarks.lm_generation --paper-shape     # OPT-125m shape, the paper preset's batch sizes
    python -m benchmarks.lm_generation --afford 3600     # the largest cpu-preset model that fits an hour

``--paper-shape`` times one training step (128 x 64 tokens, AdamW, dropout), one evaluation call
(128 blocks) and one generation call (64 prompts, 5 beams, 64 new tokens) of an OPT-125m-shaped model
with random weights and the 50272-token vocabulary, and multiplies them out to one generation of each
setting and to the paper's full run (10 generations x 2 settings x 5 seeds). Wikitext-2-raw's sizes under
the OPT tokenizer are estimates (``--paper-blocks``: train, valid, test blocks of 64 tokens).
``--afford`` does the same for a ladder of model sizes at the cpu preset's data and batch sizes and
reports the largest whose full cpu-preset run (1 seed, both settings, 10 generations) fits the time.
"""

from __future__ import annotations

import argparse
import math
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
    from collapse_jax.core.rundir import read_json
    from collapse_jax.lm import run_experiment

    t0 = time.perf_counter()
    run_experiment(out, "cpu", overwrite=True, progress=False, settings=["1"], generations=1,
                             generate_last=True)
    wall = time.perf_counter() - t0
    m = read_json(os.path.join(out, "setting1", "seed0", "gen_00", "metrics.json"))
    return {"wall_s": wall, **m["timings"], "test_ppl": m["test_ppl"]}


def side_by_side(args) -> list[tuple]:
    import jax
    import torch
    import transformers

    from collapse_jax import lm
    from collapse_jax.lm import numerics

    cfg = lm.resolve_config("cpu")
    m = cfg["model"]
    vocab = -(-cfg["tokenizer"]["vocab_size"] // 8) * 8
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
    jax.block_until_ready(numerics.continue_blocks(model, prompts, cfg))
    compile_gen = time.perf_counter() - t0
    jax_gen = _median(lambda: numerics.continue_blocks(model, prompts, cfg), args.repeats)
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
    numerics.score_blocks(model, blocks, eb)
    compile_eval = time.perf_counter() - t0
    jax_eval = _median(lambda: numerics.score_blocks(model, blocks, eb), args.repeats)

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


# ------------------------------------------------------------------------------------------------
# Projections from unit costs
# ------------------------------------------------------------------------------------------------

# wikitext-2-raw-v1 under the OPT tokenizer, in 64-token blocks: an estimate (about 2.4M training tokens,
# THEORY.md 4.3; validation and test in proportion to their word counts); the paper preset uses all of it
PAPER_BLOCKS = (37_500, 3_900, 4_400)
# the cpu preset's model ladder: (hidden, layers, heads, ffn); the first is the preset's own model
LADDER = [(64, 2, 4, 256), (128, 2, 4, 512), (128, 4, 4, 512), (256, 4, 4, 1024), (384, 6, 6, 1536),
          (512, 8, 8, 2048), (768, 12, 12, 3072)]


def unit_costs(model_cfg, *, train_batch: int, eval_batch: int, gen_batch: int, block: int, new: int, beams: int,
               penalty: float, steps: int = 2, gen_calls: int = 1) -> dict:
    """Seconds of one training step, one evaluation call and one generation call (steady state,
    medians) and the compile time of each, for a random model of ``model_cfg``."""
    import jax

    from collapse_jax import lm
    from collapse_jax.lm import numerics

    model = lm.init_model(model_cfg, seed=0)
    vocab = model_cfg.vocab_size
    rng = np.random.default_rng(0)
    blocks = lambda n: rng.integers(4, min(vocab, 50265) - 1, size=(n, block)).astype(np.int32)  # noqa: E731
    tx = lm.adamw(1e-5, weight_decay=0.01)
    state, step = lm.init_train_state(model, tx), lm.make_train_step(model, tx)
    times = []
    for i in range(steps + 1):
        batch = {"input_ids": blocks(train_batch)}
        t0 = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t0)
    train_s = statistics.median(times[1:])
    out = {"train_step_s": train_s, "train_compile_s": max(times[0] - train_s, 0.0)}
    ev = blocks(eval_batch)
    times = [_timed_call(lambda: numerics.score_blocks(model, ev, eval_batch)) for _ in range(3)]
    out.update(eval_call_s=statistics.median(times[1:]), eval_compile_s=max(times[0] - statistics.median(times[1:]), 0))
    cfg = {"num_beams": beams, "new_tokens": new, "repetition_penalty": penalty}
    prompts = blocks(gen_batch)
    times = [_timed_call(lambda: numerics.continue_blocks(model, prompts, cfg)) for _ in range(1 + gen_calls)]
    out.update(gen_call_s=statistics.median(times[1:]), gen_compile_s=max(times[0] - statistics.median(times[1:]), 0))
    out["params"] = lm.param_count(model)
    return out


def _timed_call(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def project(costs: dict, *, blocks: tuple[int, int, int], batch: int, eval_batch: int, gen_batch: int,
            epochs: dict, generations: int = 10, seeds: int = 1, sample_prompts: int = 3) -> dict:
    """Seconds of one generation per setting and of the whole run, from unit costs; compile counted
    once per compiled shape (a train step per setting, one evaluation, one generation, the samples)."""
    train, valid, test = blocks
    steps, valid_calls = math.ceil(train / batch), math.ceil(valid / eval_batch)
    eval_calls = math.ceil(test / eval_batch) + math.ceil(train / eval_batch)  # test set, data under model 0
    gen_calls = math.ceil(train / gen_batch)
    samples = costs["gen_call_s"] * sample_prompts / gen_batch
    per = {}
    total = costs["eval_compile_s"] + 2 * costs["gen_compile_s"]
    for setting, e in epochs.items():
        train_s = e * (steps * costs["train_step_s"] + valid_calls * costs["eval_call_s"])
        eval_s = eval_calls * costs["eval_call_s"] + samples
        gen_s = gen_calls * costs["gen_call_s"]
        per[setting] = {"train_s": train_s, "eval_s": eval_s, "generate_s": gen_s, "generation_s": train_s + eval_s + gen_s}
        total += costs["train_compile_s"] + seeds * (generations * (train_s + eval_s) + (generations - 1) * gen_s)
    return {"per_setting": per, "run_s": total}


def _hms(seconds: float) -> str:
    h, rest = divmod(int(round(seconds)), 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min {rest % 60:02d} s"


def paper_shape(args) -> None:
    from collapse_jax import lm

    cfg = lm.resolve_config("cpu")  # only for the generation settings (beams, new tokens, penalty)
    paper = lm.PRESETS["paper"]
    config = lm.ModelConfig()  # OPT-125m's shape, vocabulary 50272
    print(f"OPT-125m shape, random weights: batch {paper['batch_size']} x {cfg['block_size']} (train), "
          f"{paper['eval_batch_size']} (eval), {paper['gen_batch_size']} prompts x 5 beams (generation)", flush=True)
    k = args.paper_scale
    if k > 1:
        print(f"  measured at 1/{k} of each batch and multiplied by {k}: at these sizes every call is matmuls "
              f"over the batch, so its time is close to linear in the batch (the full batch can only be faster)",
              flush=True)
    c = unit_costs(config, train_batch=max(1, paper["batch_size"] // k), eval_batch=max(1, paper["eval_batch_size"] // k),
                   gen_batch=max(1, paper["gen_batch_size"] // k), block=cfg["block_size"], new=cfg["new_tokens"],
                   beams=cfg["num_beams"], penalty=cfg["repetition_penalty"], steps=args.steps_paper, gen_calls=1)
    for key in ("train_step_s", "eval_call_s", "gen_call_s"):
        c[key] *= k
    tokens = paper["batch_size"] * cfg["block_size"]
    flops = config.flops_per_token(cfg["block_size"])["train"]
    print(f"  params {c['params']:,}; train step {c['train_step_s']:.1f} s ({tokens / c['train_step_s']:.0f} tokens/s, "
          f"{flops * tokens / c['train_step_s'] / 1e9:.1f} GFLOP/s), compile {c['train_compile_s']:.0f} s")
    print(f"  evaluation call {c['eval_call_s']:.1f} s (compile {c['eval_compile_s']:.0f} s); generation call "
          f"{c['gen_call_s']:.1f} s = {paper['gen_batch_size'] * cfg['new_tokens'] / c['gen_call_s']:.1f} new tokens/s "
          f"(compile {c['gen_compile_s']:.0f} s)")
    blocks = tuple(args.paper_blocks)
    p = project(c, blocks=blocks, batch=paper["batch_size"], eval_batch=paper["eval_batch_size"],
                gen_batch=paper["gen_batch_size"], epochs={"1": 5, "2": 10}, seeds=len(paper["seeds"]))
    print(f"  projection with {blocks[0]} train / {blocks[1]} valid / {blocks[2]} test blocks (estimated):")
    for setting, v in p["per_setting"].items():
        print(f"    one generation of setting {setting}: training {_hms(v['train_s'])}, evaluation {_hms(v['eval_s'])}, "
              f"generation {_hms(v['generate_s'])}, total {_hms(v['generation_s'])}")
    print(f"    the paper's run (10 generations x 2 settings x 5 seeds): {_hms(p['run_s'])} "
          f"= {p['run_s'] / 86400:.1f} days on this machine")


def afford(args) -> None:
    from collapse_jax import lm

    cfg = lm.resolve_config("cpu")
    vocab = -(-cfg["tokenizer"]["vocab_size"] // 8) * 8
    blocks = (cfg["limits"]["train"], cfg["limits"]["valid"], cfg["limits"]["test"])
    print(f"cpu preset data ({blocks[0]} train / {blocks[1]} valid / {blocks[2]} test blocks, batch "
          f"{cfg['batch_size']}, vocabulary {vocab}); one seed, both settings, 10 generations; budget "
          f"{_hms(args.afford)}", flush=True)
    print(f"  {'hidden':>6} {'layers':>6} {'params':>10} {'step s':>8} {'eval s':>7} {'gen s':>7} {'compile s':>9} "
          f"{'run':>14}")
    best = None
    for hidden, layers, heads, ffn in LADDER[: args.ladder]:
        config = lm.ModelConfig(vocab_size=vocab, hidden_size=hidden, num_layers=layers, num_heads=heads, ffn_dim=ffn,
                                max_positions=cfg["model"]["max_positions"])
        c = unit_costs(config, train_batch=cfg["batch_size"], eval_batch=cfg["eval_batch_size"],
                       gen_batch=cfg["gen_batch_size"], block=cfg["block_size"], new=cfg["new_tokens"],
                       beams=cfg["num_beams"], penalty=cfg["repetition_penalty"], steps=4)
        p = project(c, blocks=blocks, batch=cfg["batch_size"], eval_batch=cfg["eval_batch_size"],
                    gen_batch=cfg["gen_batch_size"], epochs={"1": 5, "2": 10})
        compile_s = c["train_compile_s"] + c["eval_compile_s"] + c["gen_compile_s"]
        print(f"  {hidden:6d} {layers:6d} {c['params']:10,d} {c['train_step_s']:8.3f} {c['eval_call_s']:7.3f} "
              f"{c['gen_call_s']:7.2f} {compile_s:9.1f} {_hms(p['run_s']):>14}", flush=True)
        if p["run_s"] <= args.afford:
            best = (hidden, layers, c["params"], p["run_s"])
        elif best is not None:
            break
    if best:
        print(f"  largest that fits: hidden {best[0]}, {best[1]} layers, {best[2]:,} parameters ({_hms(best[3])})")
    else:
        print("  none of the ladder fits")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--skip-driver", action="store_true", help="only the side-by-side throughputs")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=8, help="timed training steps per side")
    p.add_argument("--out", default=None, help="run directory for the driver part (default: a temporary one)")
    p.add_argument("--paper-shape", action="store_true", help="only the OPT-125m-shaped projection of the paper run")
    p.add_argument("--paper-blocks", type=int, nargs=3, default=PAPER_BLOCKS, metavar=("TRAIN", "VALID", "TEST"),
                   help="64-token blocks of the paper's data (default: an estimate for wikitext-2-raw)")
    p.add_argument("--steps-paper", type=int, default=2, help="timed training steps at the OPT-125m shape")
    p.add_argument("--paper-scale", type=int, default=1, metavar="K",
                   help="time the OPT-125m shape at 1/K of the paper's batches and scale by K (a short measurement)")
    p.add_argument("--afford", type=float, default=None, metavar="SECONDS",
                   help="only the model-size ladder: the largest cpu-preset model whose run fits SECONDS")
    p.add_argument("--ladder", type=int, default=len(LADDER), help="how many ladder sizes to try at most")
    args = p.parse_args(argv)
    import jax

    print(f"devices: {jax.devices()}, cpu cores: {os.cpu_count()}")
    if args.paper_shape or args.afford:
        if args.paper_shape:
            paper_shape(args)
        if args.afford:
            afford(args)
        return 0
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
