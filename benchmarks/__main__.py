"""``python -m benchmarks``: every side-by-side benchmark, each printing ratios measured in one run."""

import importlib
import pkgutil
import sys
import time

import benchmarks


def main() -> int:
    # the accelerator suite is sized for a GPU: it runs only when named (python -m benchmarks device)
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                   if not m.name.startswith("_") and m.name != "device")
    only = sys.argv[1:] or names
    for name in only:
        print(f"\n=== benchmarks.{name} ===", flush=True)
        start = time.perf_counter()
        importlib.import_module(f"benchmarks.{name}").main([])
        print(f"[{name}: {time.perf_counter() - start:.0f} s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
