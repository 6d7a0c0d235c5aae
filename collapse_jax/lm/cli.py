"""``collapse-jax lm``: the paper's language-model experiment (Fig. 1b/1c), resumable.

    collapse-jax lm --preset cpu --out runs/lm-cpu          # ~30 min on 2 CPU cores
    collapse-jax lm --preset paper --out runs/lm-paper      # OPT-125m on wikitext-2 (GPU)
    collapse-jax lm --preset smoke --out /tmp/lm-smoke      # seconds

Running the same command again on the same ``--out`` continues an interrupted run.
"""

from __future__ import annotations

import argparse


def add_cli(subparsers) -> None:
    from .recursion import INITS, PRESETS, PROMPTS

    p = subparsers.add_parser(
        "lm", help="OPT fine-tuned on its own generations (paper Fig. 1b/1c), resumable",
        description="Fine-tune OPT on wikitext-2, generate the next generation's data by 5-way beam search, "
                    "repeat; measure test perplexity drift. Re-running the same command resumes the run.")
    p.add_argument("--preset", default="cpu", help=f"{' | '.join(PRESETS)} (default cpu)")
    p.add_argument("--settings", default=None, help="comma-separated: 1 (5 epochs, no original data), "
                   "2 (10 epochs, 10%% original data); default both")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: the preset's)")
    p.add_argument("--generations", type=int, default=None, help="models per chain, 'Real' included (default 10)")
    p.add_argument("--epochs", type=int, default=None, help="override both settings' epochs")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--gen-batch-size", type=int, default=None, help="prompts per beam-search call")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--repetition-penalty", type=float, default=None,
                   help="3.0 (official code, default) or 2.0 (paper's ablation)")
    p.add_argument("--prompts", default=None, help=f"{' | '.join(PROMPTS)}: which blocks prompt the next "
                   "generation (default train: the blocks this generation trained on, as the official code)")
    p.add_argument("--init", default=None, help=f"{' | '.join(INITS)}: each generation starts from the base "
                   "model (default, as the official code) or from the previous generation's model")
    p.add_argument("--data", default=None, help="'wikitext' (datasets package) or a directory of text files")
    p.add_argument("--model", default=None, help="Hugging Face OPT directory or Hub id (paper preset)")
    p.add_argument("--train-blocks", type=int, default=None, help="use only the first N training blocks")
    p.add_argument("--out", default=None, help="run directory (default runs/lm-<preset>); an existing one "
                   "with the same configuration is resumed, so re-running the same command continues it")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run directory and start again")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    from .recursion import Run, resolve_config

    overrides = {"settings": args.settings, "seeds": args.seeds, "generations": args.generations,
                 "epochs": args.epochs, "batch_size": args.batch_size, "gen_batch_size": args.gen_batch_size,
                 "lr": args.lr, "repetition_penalty": args.repetition_penalty, "prompts": args.prompts,
                 "init": args.init}
    if args.data is not None:
        overrides["data"] = {"source": args.data} if args.data == "wikitext" else {
            "source": args.data, "train": "auto", "valid": "auto", "test": "auto"}
    if args.model is not None:
        overrides["model"] = {"source": args.model}
        if args.preset != "paper":
            overrides["tokenizer"] = {"source": "model"}
    if args.train_blocks is not None:
        overrides["limits"] = {"train": args.train_blocks}
    cfg = resolve_config(args.preset, **overrides)
    out = args.out or f"runs/lm-{args.preset}"  # no timestamp: the same command resumes the same run
    summary = Run(cfg, out, overwrite=args.overwrite).run(progress=not args.no_progress)
    print(f"lm ({args.preset}): {summary['generations_completed']} generations -> {out}")
    for setting, a in summary["per_setting"].items():
        cells = " ".join(f"{m:.1f}±{s:.1f}" for m, s in zip(a["test_ppl_mean"], a["test_ppl_std"]))
        print(f"  setting {setting} test perplexity by generation (Real, 1, 2, ...): {cells}")
    return 0


__all__ = ["add_cli"]
