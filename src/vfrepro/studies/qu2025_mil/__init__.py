"""qu2025_mil (Qu et al., Health Informatics Journal 2025): gated-attention MIL on axial (S)
and coronal (Z) CT slices, AO Spine A0-A4 and AZ.

The paper: per case a bag of 5 S-type and 5 Z-type images, AlexNet convolutional layers ->
feature layer -> gated attention (Ilse et al. 2018) -> bag classifier, an instance classifier,
for Z a super-class head; cross-entropy losses; the ensemble takes Z's prediction, S's where Z
says AZ; accuracy with 95% CI, per-class accuracy, confusion matrices, Grad-CAM, a reader study.

Here: bags are cut from the preprocessed CT per vertebra (bags), labelled per view from the
lesion map (labels), trained per view with the shared engine (study, model.MILTask), evaluated
with the paper's metrics plus the instance-level AUC of attention (tables, metrics). What the
paper leaves out is chosen (the modules' CHOSEN lists and config), written to chosen.csv.

CHOSEN gathers every (setting, value, reason) this branch takes where the paper is silent or
ambiguous; the outputs list it.
"""

from __future__ import annotations

__all__ = ["CHOSEN", "chosen_table"]


def _gather() -> list[tuple[str, str, str, str]]:
    from . import bags, dataset, labels, metrics, model, study
    out = []
    for name, mod in (("labels", labels), ("bags", bags), ("dataset", dataset), ("model", model),
                      ("metrics", metrics), ("study", study)):
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
