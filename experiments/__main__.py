"""``python -m experiments NAME``: run one experiment's sweep (resumable) and draw its figure.

    python -m experiments absorption
    python -m experiments schedules --scale large --out runs/schedules-large
    python -m experiments all --publish     # every experiment; copy figures to experiments/figures
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from . import HERE, NAMES, plot


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=(*NAMES, "all"))
    parser.add_argument("--scale", default=None, help="the config's [scales.NAME] overrides, e.g. 'large'")
    parser.add_argument("--out", default=None, help="sweep directory (default runs/experiments/NAME[-SCALE])")
    parser.add_argument("--publish", action="store_true", help="also copy the figure to experiments/figures/")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    from collapse_jax import sweep
    from collapse_jax import InputError

    for name in NAMES if args.name == "all" else (args.name,):
        suffix = f"-{args.scale}" if args.scale else ""
        out = Path(args.out if args.out and args.name != "all" else f"runs/experiments/{name}{suffix}")
        start = time.perf_counter()
        try:
            res = sweep.run(HERE / f"{name}.toml", out, scale=args.scale, progress=not args.no_progress)
        except InputError as err:
            print(f"experiments {name}: error: {err}", file=sys.stderr)
            return 2
        figure = plot(res.config["experiment"], res, out)
        print(f"{name}: {len(res.points)} points, {time.perf_counter() - start:.0f} s; wrote {figure} "
              f"and {out / 'summary.csv'}")
        if args.publish:
            target = HERE / "figures" / f"{name}{suffix}.png"
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(figure, target)
            print(f"  published {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
