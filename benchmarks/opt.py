"""JAX OPT port vs transformers/PyTorch on this machine: training and 5-beam generation throughput.

    python -m benchmarks.opt                       # small (4 layers, d=256) and OPT-125m shapes
    python -m benchmarks.opt --configs small --repeats 5

Both sides use the same random weights (the torch model is built, then loaded into JAX), the same
batch, sequence length and settings; the ratio is JAX/PyTorch measured in the same run. Training:
AdamW steps with dropout on, tokens/s = batch·length / step time. Generation: the paper's setting,
64-token prompts, 5 beams, exactly 64 new tokens, repetition penalty 3.0; tokens/s counts new
tokens of the returned sequences (batch·64 / call time). After one warm-up call per side (JAX
compile time reported separately), torch and JAX calls alternate, so load from other users of a
shared CPU hits both alike; the table reports the best time of each side (and the ratio of
medians). Also printed: model FLOPs per token and the achieved training GFLOP/s.

Training variants (``--variants``, interleaved with torch and with each other in one process):

  xla       the default XLA:CPU compilation
  onednn    XLA option xla_cpu_use_onednn (oneDNN matmuls)
  xnn       XLA option xla_cpu_experimental_xnn_fusion_type = individual dots (XNNPACK matmuls)
  ynn       the same through YNNPACK
  bf16      matrix multiplies with bfloat16 operands and float32 accumulation (ModelConfig.matmul_dtype;
            a tolerance test in tests/test_lm_train.py); worth it only with bf16 hardware
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

CONFIGS = {
    "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, ffn_dim=1024),
    "125m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, ffn_dim=3072),
}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


VARIANTS = {
    "xla": {},
    "onednn": {"xla_cpu_use_onednn": True},
    "xnn": {"xla_cpu_experimental_xnn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"},
    "ynn": {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"},
    "bf16": {},
}


def _interleaved(torch_fn, jax_fn, repeats: int) -> tuple[float, float, float, float]:
    """Alternate the two sides so load from other users hits both alike; (min, median) seconds of each."""
    t_torch, t_jax = [], []
    for _ in range(repeats):
        t_torch.append(_timed(torch_fn))
        t_jax.append(_timed(jax_fn))
    return min(t_torch), statistics.median(t_torch), min(t_jax), statistics.median(t_jax)


def _round_robin(fns: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Call every function once per round, ``repeats`` rounds; (min, median) seconds of each."""
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_timed(fn))
    return {name: (min(t), statistics.median(t)) for name, t in times.items()}


def torch_trainer(torch_model, ids: np.ndarray, device: str = "cpu"):
    """The peer's training step (AdamW, dropout on, loss as labels = inputs); returns a function that
    takes one step and returns the loss."""
    import torch

    torch_model.train()
    opt = torch.optim.AdamW(torch_model.parameters(), lr=1e-5, weight_decay=0.0)
    ids_t = torch.tensor(ids, device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch_model(ids_t, labels=ids_t).loss
        loss.backward()
        opt.step()
        return loss.item()

    return step


def bench(name: str, args) -> list[tuple]:
    import jax
    import torch
    import transformers

    from collapse_jax import lm

    torch.manual_seed(0)
    hf_config = transformers.OPTConfig(**CONFIGS[name])
    torch_model = transformers.OPTForCausalLM(hf_config)
    with tempfile.TemporaryDirectory() as tmp:
        torch_model.save_pretrained(tmp)
        model, config = lm.load_model(tmp)
    rng = np.random.RandomState(0)
    rows = []

    # ---------------------------------------------------------------- beam generation
    # first, while both sides still hold the same weights (training changes them)
    gb, new = args.gen_batch, 64
    if args.skip_generation:
        gb = 0
    prompts = rng.randint(4, 50265, size=(gb, 64))
    prompts[:, 0] = 2
    torch_model.eval()
    kwargs = dict(num_beams=5, max_new_tokens=new, min_new_tokens=new, repetition_penalty=3.0)
    p_t = torch.tensor(prompts)

    def torch_gen():
        with torch.no_grad():
            return torch_model.generate(p_t, attention_mask=torch.ones_like(p_t), do_sample=False, **kwargs)

    outputs = []

    def jax_gen():
        return lm.beam_search(model, prompts, **kwargs).sequences_BxL.block_until_ready()

    if gb:
        with torch.no_grad():  # warm-up on a short run (first-call overheads), then the timed full runs
            torch_model.generate(p_t, attention_mask=torch.ones_like(p_t), do_sample=False, num_beams=5,
                                 max_new_tokens=2)
        start = time.perf_counter()
        jax_out = jax_gen()
        compile_gen = time.perf_counter() - start
        t_torch, med_torch, t_jax, med_jax = _interleaved(lambda: outputs.append(torch_gen()), jax_gen,
                                                          args.gen_repeats)
        same = np.array_equal(np.asarray(jax_out), outputs[-1].numpy())
        rows.append((name, f"5-beam gen B={gb} 64+64{' (same tokens)' if same else ' (TOKENS DIFFER)'}",
                     gb * new / t_torch, gb * new / t_jax, compile_gen, gb * new / med_torch, gb * new / med_jax))

    # ---------------------------------------------------------------- training
    b, t = args.train_batch, args.train_len
    ids = rng.randint(4, 50265, size=(b, t))
    ids[:, 0] = 2
    torch_step = torch_trainer(torch_model, ids)
    torch_step()

    jax_steps, compile_s = {}, {}
    for variant in args.variants:
        m = lm.with_matmul_dtype(model, "bfloat16") if variant == "bf16" else model
        tx = lm.adamw(1e-5)
        step = lm.make_train_step(m, tx, compiler_options=VARIANTS[variant])
        holder = {"state": lm.init_train_state(m, tx)}

        def jax_step(step=step, holder=holder):
            holder["state"], metrics = step(holder["state"], {"input_ids": ids})
            return float(metrics["loss"])

        start = time.perf_counter()
        jax_step()
        compile_s[variant] = time.perf_counter() - start
        jax_steps[variant] = jax_step
    times = _round_robin({"torch": torch_step, **jax_steps}, args.repeats)
    tokens = b * t
    t_torch, med_torch = times["torch"]
    for i, variant in enumerate(args.variants):
        t_jax, med_jax = times[variant]
        rows.insert(i, (name, f"train B={b} T={t} [{variant}]", tokens / t_torch, tokens / t_jax, compile_s[variant],
                        tokens / med_torch, tokens / med_jax))

    flops = config.flops_per_token(seq_len=t)
    print(f"[{name}] params {lm.param_count(model):,}; model FLOPs/token at T={t}: forward {flops['forward']:.4g}, "
          f"train (x3) {flops['train']:.4g}; train achieved: JAX {flops['train'] * rows[0][3] / 1e9:.2f} GFLOP/s, "
          f"torch {flops['train'] * rows[0][2] / 1e9:.2f} GFLOP/s", flush=True)
    del jax
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="small,125m")
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-len", type=int, default=128)
    parser.add_argument("--gen-batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=4, help="timed training steps per side")
    parser.add_argument("--gen-repeats", type=int, default=2, help="timed generation calls per side")
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--variants", default="xla", help=f"JAX training variants, comma-separated: "
                        f"{', '.join(VARIANTS)} (default xla)")
    parser.add_argument("--skip-generation", action="store_true")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in args.variants if v not in VARIANTS]
    if bad or not args.variants:
        parser.error(f"unknown variant {', '.join(bad)}; expected some of {', '.join(VARIANTS)}")

    import jax
    import torch

    default_threads = torch.get_num_threads()
    torch.set_num_threads(args.torch_threads)
    print(f"torch {torch.__version__}: get_num_threads() was {default_threads}, set to {torch.get_num_threads()}; "
          f"jax {jax.__version__} on {jax.device_count()} {jax.default_backend()} device(s); "
          f"os.cpu_count()={os.cpu_count()}", flush=True)
    rows = []
    for name in args.configs.split(","):
        if name not in CONFIGS:
            raise SystemExit(f"unknown config {name!r}; expected one of {', '.join(CONFIGS)}")
        rows += bench(name, args)
    print("\nthroughput from the best (least disturbed) of the interleaved repeats; median ratio alongside")
    print(f"{'config':7} {'workload':42} {'torch tok/s':>12} {'jax tok/s':>12} {'jax/torch':>9} "
          f"{'median ratio':>12} {'jax compile s':>13}")
    for name, what, torch_tps, jax_tps, compile_s, med_torch, med_jax in rows:
        print(f"{name:7} {what:42} {torch_tps:12.1f} {jax_tps:12.1f} {jax_tps / torch_tps:9.2f} "
              f"{med_jax / med_torch:12.2f} {compile_s:13.1f}")


if __name__ == "__main__":
    main()
