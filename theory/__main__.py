"""``python -m theory``: run the catalogue and print simulated ± se, prediction and z per identity.

    python -m theory                     # test size (seconds to minutes)
    python -m theory --only discrete     # one family, or any substring of check names
    python -m theory --full              # large chain counts; report (table, CSV, z-score figure)
                                         # in runs/theory-report (or --report DIR)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import CATALOGUE, Scale


def run(only: str | None, scale: Scale, z_max: float, out=sys.stdout):
    rows, failures = [], []
    checks = [c for name, c in CATALOGUE.items() if not only or only in name]
    if not checks:
        raise SystemExit(f"no theory check matches {only!r}; known: {', '.join(CATALOGUE)}")
    print(f"{'identity':58s} {'simulated':>12s} {'± se':>10s} {'predicted':>12s} {'z':>7s}  ok", file=out)
    for check in checks:
        start = time.perf_counter()
        for row in check.run(scale):
            rows.append(row)
            ok = row.passed(z_max)
            if not ok:
                failures.append(row)
            score = f"{row.z:7.2f}" if row.exact else f"{100 * row.rel_err:6.2f}%"
            print(f"{row.label[:58]:58s} {row.simulated:12.6g} {row.se:10.3g} {row.predicted:12.6g} {score}  "
                  f"{'yes' if ok else 'NO'}{'' if row.exact else ' (approx.)'}", file=out)
        print(f"  [{check.name}: {time.perf_counter() - start:.1f}s] {check.identity}", file=out)
    return rows, failures


def write_report(rows, directory: Path, z_max: float) -> None:
    from collapse_jax.core import plots
    from collapse_jax.core.rundir import atomic_write_csv

    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(directory / "theory.csv",
                     ["check", "label", "simulated", "se", "predicted", "z", "exact", "rel_err", "passed"],
                     [[r.check, r.label, r.simulated, r.se, r.predicted, r.z, r.exact, r.rel_err, r.passed(z_max)]
                      for r in rows])
    exact = [r for r in rows if r.exact]
    fig, (ax,) = plots.figure(width=7, height=0.22 * max(len(exact), 8) + 1)
    y = np.arange(len(exact))
    z = np.array([r.z for r in exact])
    ax.barh(y, z, color=np.where(np.abs(z) <= 2, "C0", np.where(np.abs(z) <= z_max, "C1", "C3")))
    ax.set_yticks(y, [r.label for r in exact], fontsize=7)
    for v in (-2, 2):
        ax.axvline(v, color="k", ls=":", lw=0.8)
    ax.axvline(0, color="k", lw=0.8)
    ax.set(xlabel="z = (simulated − exact) / standard error", title="Theorem catalogue: exact identities")
    ax.invert_yaxis()
    plots.save(fig, directory / "zscores.png")
    write_markdown(rows, directory / "report.md", z_max)


def write_markdown(rows, path: Path, z_max: float) -> None:
    """report.md: the table (one row per compared number) and the z-score figure, for the README."""
    import platform

    from collapse_jax.core.rundir import atomic_write_text, versions

    passed = sum(r.passed(z_max) for r in rows)
    v = versions()
    lines = [
        "# Theorem catalogue report", "",
        f"{passed} of {len(rows)} comparisons pass (exact identities: |z| <= {z_max}; approximations: relative "
        f"error within their stated tolerance). jax {v.get('jax', '?')} on {v.get('backend', '?')}, "
        f"{platform.machine()}; written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
        "![z-scores of the exact identities](zscores.png)", "",
        "| check | quantity | simulated | ± se | predicted | z / rel. err. | ok |",
        "|---|---|---:|---:|---:|---:|:-:|",
    ]
    for r in rows:
        score = f"{r.z:.2f}" if r.exact else f"{100 * r.rel_err:.2f}% (approx.)"
        lines.append(f"| {r.check} | {r.label.replace('|', '/')} | {r.simulated:.6g} | {r.se:.3g} | "
                     f"{r.predicted:.6g} | {score} | {'yes' if r.passed(z_max) else '**NO**'} |")
    atomic_write_text(path, "\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m theory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="25x the chains of the test-size run")
    parser.add_argument("--only", default=None, help="substring of check names, e.g. 'discrete'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--z-max", type=float, default=4.0, help="|z| above this fails an exact identity")
    parser.add_argument("--report", default=None, help="directory for theory.csv, zscores.png and report.md")
    args = parser.parse_args(argv)
    scale = Scale(factor=25 if args.full else 1, seed=args.seed)
    if args.full and args.report is None:
        args.report = "runs/theory-report"  # the full catalogue always leaves its report
    rows, failures = run(args.only, scale, args.z_max)
    if args.report:
        write_report(rows, Path(args.report), args.z_max)
        print(f"wrote {args.report}/theory.csv, zscores.png and report.md")
    print(f"{len(rows) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
