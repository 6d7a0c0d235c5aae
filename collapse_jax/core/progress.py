"""Progress bars for long work: one kind, used by every driver.

A bar says ``compiling…`` until its first unit of work is done and measures its rate from then
on, so an ETA never includes the one-off compilation (which can dwarf a short run).
"""

from __future__ import annotations

import sys


class Progress:
    """A tqdm bar over ``total`` units (chain-generations, tokens, ...), or nothing when disabled.

    ``initial`` units count as done before the bar starts (a resumed run). ``update(n)`` adds
    finished work; the first call ends the ``compiling…`` phase. Use as a context manager or call
    ``close()``.
    """

    def __init__(self, total: float, desc: str, *, unit: str = "chain-gen", enabled: bool = True,
                 initial: float = 0, compiling: bool = True):
        self.desc = desc
        self._bar = None
        self._started = not compiling
        if enabled and total > 0:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=round(total), initial=round(initial), unit=f" {unit}", unit_scale=True,
                             desc=desc if self._started else f"{desc} (compiling…)", leave=False,
                             smoothing=0, mininterval=0.5, dynamic_ncols=True, file=sys.stderr)

    def update(self, n: float) -> None:
        if self._bar is None:
            return
        n = round(n)
        if not self._started:
            # Restart the clock after the first (compiled) unit: the rate counts work, not compilation.
            self._started = True
            done = self._bar.n + n
            self._bar.set_description_str(self.desc, refresh=False)
            self._bar.reset(total=self._bar.total)
            self._bar.initial = done
            self._bar.n = done
            self._bar.refresh()
            return
        self._bar.update(n)

    def describe(self, text: str) -> None:
        """Change the label (e.g. the current setting and generation of a long experiment)."""
        self.desc = text
        if self._bar is not None:
            self._bar.set_description_str(text if self._started else f"{text} (compiling…)", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["Progress"]
