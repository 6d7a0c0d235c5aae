"""What a family tells the sweep about itself (one :class:`Sweepable` per family).

The sweep (``collapse_jax.sweep``) is a thin layer over the families' kernels: it resolves every
grid point with the family's own ``prepare`` (the same validation as ``simulate``), runs points
whose kernels are equal as the lanes of one compiled program, and summarises each point with the
family's closed forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .simulation import Prepared


@dataclass(frozen=True)
class Sweepable:
    """A family's sweep interface.

    - ``defaults``: every parameter a grid point may set, with its default;
    - ``prepare(params, generations)``: the validated run of one point;
    - ``metrics``: the metrics a sweep records unless the config names some;
    - ``predictions(prepared, rows)``: closed-form expectations ``{metric: (values at rows, kind)}``,
      plus per-point event predictions (e.g. a mean absorption time) under their own names;
    - ``events(state)``: per-chain values of the final state worth keeping (C,) each;
    - ``cost(prepared)``: nanoseconds per chain-generation, roughly, on one CPU core (to size chunks);
    - ``unbounded``: the metrics whose means a few chains can carry (checked for heavy tails).
    """

    name: str
    defaults: Mapping[str, Any]
    prepare: Callable[[Mapping[str, Any], int], Prepared]
    metrics: tuple[str, ...]
    predictions: Callable[[Prepared, np.ndarray], dict[str, tuple[np.ndarray, str]]]
    events: Callable[[Any], dict[str, np.ndarray]] = lambda state: {}
    cost: Callable[[Prepared], float] = lambda prepared: 1000.0
    unbounded: tuple[str, ...] = ()


__all__ = ["Sweepable"]
