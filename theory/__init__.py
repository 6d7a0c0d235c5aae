"""The theorem catalogue: exact closed forms of docs/THEORY.md checked against simulation.

``python -m theory`` runs every check at test size and prints the table; ``--full`` runs them at
large chain counts and ``--report DIR`` writes a CSV and a z-score figure. Each family's checks
live in their own module and register themselves on import.
"""

import importlib

from .core import CATALOGUE, Check, Row, Scale, compare, failures, mean_se, register

for _family in ("discrete", "gaussian", "regression", "kde", "poisson"):
    try:
        importlib.import_module(f"{__name__}.{_family}")
    except ModuleNotFoundError as _err:  # a family not built yet
        if not (_err.name or "").startswith(f"{__name__}.{_family}"):
            raise

__all__ = ["CATALOGUE", "Check", "Row", "Scale", "compare", "failures", "mean_se", "register"]
