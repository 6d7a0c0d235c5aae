"""``collapse-jax lm``: the paper's language-model experiment (Fig. 1b/1c), resumable.

    collapse-jax lm --preset cpu --seeds 3                  # 3 seeds, ~30 min on 2 CPU cores
    collapse-jax lm --preset paper --seeds 5                # OPT-125m on wikitext-2 (GPU)
    collapse-jax lm --preset cpu --ablation                 # the paper's repetition ablation (penalty none vs 2.0)
    collapse-jax lm --preset smoke --out /tmp/lm-smoke      # the tests' size

Running the same command again on the same ``--out`` continues an interrupted run.
"""

from __future__ import annotations

import argparse

from ..core.errors import InputError
from .ablation import penalty_dir, run_ablation
from .config import ABLATION_PENALTIES, INITS, PRESETS, PROMPTS, parse_penalties, resolve_config
from .report import collect, counts, table_markdown
from .run import Run


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "lm", help="OPT fine-tuned on its own generations (paper Fig. 1b/1c), resumable",
        description="Fine-tune OPT on wikitext-2, generate the next generation's data by 5-way beam search, "
                    "repeat; measure test perplexity drift. Re-running the same command resumes the run.")
    p.add_argument("--preset", default="cpu", help=f"{' | '.join(PRESETS)} (default cpu)")
    p.add_argument("--settings", default=None, help="comma-separated: 1 (5 epochs, no original data), "
                   "2 (10 epochs, 10%% original data); default both")
    p.add_argument("--seeds", default=None, help="N (seeds 0..N-1: 5 is the paper's), a list 0,2,4, or a range 5-9 "
                   "(default: the preset's); all seeds share one run directory")
    p.add_argument("--generations", type=int, default=None, help="models per chain, 'Real' included (default 10)")
    p.add_argument("--epochs", type=int, default=None, help="override both settings' epochs")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--gen-batch-size", type=int, default=None, help="prompts per beam-search call")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--repetition-penalty", default=None,
                   help="3.0 (official code, default); several, comma-separated (1,2), run the ablation: one run "
                        "per penalty and a figure comparing them")
    p.add_argument("--ablation", action="store_true",
                   help=f"the paper's repetition ablation: --repetition-penalty {','.join(f'{v:g}' for v in ABLATION_PENALTIES)} "
                        "(none against 2.0)")
    p.add_argument("--prompts", default=None, help=f"{' | '.join(PROMPTS)}: which blocks prompt the next "
                   "generation (default train: the blocks this generation trained on, as the official code)")
    p.add_argument("--init", default=None, help=f"{' | '.join(INITS)}: each generation starts from the base "
                   "model (default, as the official code) or from the previous generation's model")
    p.add_argument("--data", default=None, help="'wikitext' (datasets package) or a directory of text files")
    p.add_argument("--model", default=None, help="Hugging Face OPT directory or Hub id (paper preset)")
    p.add_argument("--train-blocks", type=int, default=None, help="use only the first N training blocks")
    p.add_argument("--out", default=None, help="run directory (default runs/lm-<preset>, or runs/lm-<preset>-ablation); "
                   "an existing one with the same configuration is resumed, so re-running the same command continues it")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run directory and start again")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_run_cli)


def _overrides(args: argparse.Namespace) -> dict:
    overrides = {"settings": args.settings, "seeds": args.seeds, "generations": args.generations,
                 "epochs": args.epochs, "batch_size": args.batch_size, "gen_batch_size": args.gen_batch_size,
                 "lr": args.lr, "prompts": args.prompts, "init": args.init}
    if args.data is not None:
        overrides["data"] = {"source": args.data} if args.data == "wikitext" else {
            "source": args.data, "train": "auto", "valid": "auto", "test": "auto"}
    if args.model is not None:
        overrides["model"] = {"source": args.model}
        if args.preset != "paper":
            overrides["tokenizer"] = {"source": "model"}
    if args.train_blocks is not None:
        overrides["limits"] = {"train": args.train_blocks}
    return overrides


def _print_table(title: str, rows) -> None:
    done = ", ".join(f"setting {s}: {c['generations']} generation{'s' if c['generations'] != 1 else ''} "
                     f"of {c['seeds']} seed{'s' if c['seeds'] != 1 else ''}" for s, c in counts(rows).items())
    print(f"{title}: {done or 'nothing completed'}")
    print(table_markdown(rows), end="")


def _run_cli(args: argparse.Namespace) -> int:
    overrides = _overrides(args)
    penalties = None
    if args.repetition_penalty is not None:
        penalties = parse_penalties(args.repetition_penalty)
    if args.ablation:
        if penalties is not None and len(penalties) == 1:
            raise InputError(f"--ablation compares the penalties {','.join(f'{v:g}' for v in ABLATION_PENALTIES)}; "
                             "to compare others, give several with --repetition-penalty (without --ablation)")
        penalties = penalties or list(ABLATION_PENALTIES)
    if penalties is not None and len(penalties) > 1:
        out = args.out or f"runs/lm-{args.preset}-ablation"
        run_ablation(out, args.preset, penalties, overwrite=args.overwrite, progress=not args.no_progress, **overrides)
        for p in penalties:
            _print_table(f"lm ({args.preset}), repetition penalty {p:g} -> {out}/{penalty_dir(p)}",
                         collect(f"{out}/{penalty_dir(p)}"))
        print(f"comparison: {out}/ablation.png, {out}/ablation.md")
        return 0
    if penalties is not None:
        overrides["repetition_penalty"] = penalties[0]
    cfg = resolve_config(args.preset, **overrides)
    out = args.out or f"runs/lm-{args.preset}"  # no timestamp: the same command resumes the same run
    Run(cfg, out, overwrite=args.overwrite).run(progress=not args.no_progress)
    _print_table(f"lm ({args.preset}) -> {out}", collect(out))
    return 0


__all__ = ["add_cli"]
