"""Deprecated alias: the experiment now lives in :mod:`.config` (presets), :mod:`.run` (the driver),
:mod:`.report` (tables and figures) and :mod:`.numerics`; these names stay importable from here."""

from .config import INITS, PRESETS, PROMPTS, SETTINGS, resolve_config, setting_epochs  # noqa: F401
from .numerics import continue_blocks, mean_loss, mix_original, score_blocks  # noqa: F401
from .report import aggregate, collect, plot, write_summary  # noqa: F401
from .run import Run, base_model, run_experiment  # noqa: F401
