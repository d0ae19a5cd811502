"""qu2025_mil (Qu et al. 2025): gated-attention MIL on axial (S) and coronal (Z) CT slices,
AO Spine A0-A4 and AZ. Phase 1: label maps, bags, dataset, model and losses, metrics.

CHOSEN gathers every (setting, value, reason) this branch takes where the paper is silent or
ambiguous; the outputs list it.
"""

from __future__ import annotations

__all__ = ["CHOSEN", "chosen_table"]


def _gather() -> list[tuple[str, str, str, str]]:
    from . import bags, dataset, labels, metrics, model
    out = []
    for name, mod in (("labels", labels), ("bags", bags), ("dataset", dataset), ("model", model),
                      ("metrics", metrics)):
        out += [(name, *row) for row in mod.CHOSEN]
    return out


def chosen_table():
    """CHOSEN as a DataFrame: module, setting, value, reason."""
    import pandas as pd
    return pd.DataFrame(_gather(), columns=["module", "setting", "value", "reason"])


def __getattr__(name):
    if name == "CHOSEN":
        return _gather()
    raise AttributeError(name)
