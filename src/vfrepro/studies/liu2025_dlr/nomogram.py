"""liu2025_dlr combined model: clinical variables that differ between ASTLOF classes (training
rows: one-way ANOVA for continuous, chi-square for categorical) + Radscore in an ordinal
(proportional-odds, statsmodels OrderedModel) or multinomial (MNLogit) logistic model; a
nomogram of the ordinal linear predictor and a calibration plot per split.

The candidates default to baseline variables that are not ASTLOF components (age, sex, the
fracture segment): the T-score and pain are two of the four scores whose sum is the label, so a
model given them predicts the label partly from its own definition; they are refused unless
``nomogram.allow_label_components`` says so, and the outputs then record it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

PAIN = {"none": 0, "positional": 1, "persistent": 2}
CATEGORICAL = ("sex", "pain", "segment")
# the candidates the combined model offers (config schema: liu2025_dlr.nomogram.clinical)
OFFERED = ("age", "sex", "segment", "t_score", "pain")
DEFAULT_CLINICAL = ("age", "sex", "segment")

CHOSEN: list[tuple[str, object, str]] = [
    ("nomogram.clinical", "age, sex, segment (thoracic/lumbar)",
     "the paper adds 'statistically significant clinical baseline characteristics' (its Table 1: sex, age, "
     "DXA T-score, fracture location, staging, treatment) without naming those kept. The T-score and pain "
     "are ASTLOF components (BMD and pain scores), so they are refused unless "
     "nomogram.allow_label_components; staging and treatment are not in the cohort table"),
    ("nomogram.level", "not offered (segment instead)",
     "six levels give sparse class-by-level cells on a small training set; the paper's Table 1 reports the "
     "thoracic/lumbar location"),
    ("nomogram.tests", "one-way ANOVA (continuous), chi-square (categorical) across the 3 classes on "
     "training vertebrae, p < alpha", "the paper names t and chi-square tests for its baseline comparisons"),
    ("nomogram.model", "proportional-odds logistic (statsmodels OrderedModel) of clinical + Radscore",
     "the paper's combined model is not specified for 3 ordered classes; the nomogram needs one linear "
     "predictor"),
]


def check_candidates(variables: list[str], allow_label_components: bool) -> list[str]:
    """The clinical candidates that are ASTLOF components; an InputError naming the config key
    when there are any and ``allow_label_components`` is false, or a variable is not offered."""
    from vfrepro.errors import InputError

    from .cohort import ASTLOF_COMPONENTS
    unknown = [v for v in variables if v not in OFFERED and v not in ASTLOF_COMPONENTS]
    if unknown:
        raise InputError(f"liu2025_dlr.nomogram.clinical: unknown variable(s) {unknown}; choose from "
                         f"{list(OFFERED)}", field="liu2025_dlr.nomogram.clinical")
    comps = [v for v in variables if v in ASTLOF_COMPONENTS]
    if comps and not allow_label_components:
        what = ", ".join(f"{v} ({ASTLOF_COMPONENTS[v]})" for v in comps)
        raise InputError(f"liu2025_dlr.nomogram.clinical lists ASTLOF component(s) {what}: the combined model "
                         f"would predict the label from its own definition. Remove them (default: "
                         f"{list(DEFAULT_CLINICAL)}) or set liu2025_dlr.nomogram.allow_label_components: true",
                         field="liu2025_dlr.nomogram.clinical")
    return comps


def design(df: pd.DataFrame, variables: list[str]) -> pd.DataFrame:
    X = pd.DataFrame(index=df.index)
    for v in variables:
        if v == "sex":
            X["sex_F"] = (df["sex"] == "F").astype(float)
        elif v == "pain":
            X["pain_score"] = df["pain"].map(PAIN).astype(float)
        elif v == "segment":
            X["segment_lumbar"] = (df["segment"] == "lumbar").astype(float)
        else:
            X[v] = df[v].astype(float)
    return X


def clinical_tests(train: pd.DataFrame, variables: list[str]) -> pd.DataFrame:
    rows = []
    for v in variables:
        col = train[v]
        if v in CATEGORICAL:
            tab = pd.crosstab(col, train["label"])
            p = stats.chi2_contingency(tab)[1] if tab.shape[0] > 1 and tab.shape[1] > 1 else np.nan
            test = "chi-square"
        else:
            groups = [col[train["label"] == k].astype(float) for k in sorted(train["label"].unique())]
            p = stats.f_oneway(*groups).pvalue if all(len(g) > 1 for g in groups) else np.nan
            test = "one-way ANOVA"
        rows.append({"variable": v, "test": test, "p": float(p)})
    return pd.DataFrame(rows)


def fit_combined(train: pd.DataFrame, variables: list[str], kind: str = "ordinal"):
    from statsmodels.miscmodels.ordinal_model import OrderedModel
    from statsmodels.discrete.discrete_model import MNLogit
    import statsmodels.api as sm

    X = design(train, variables)
    X["radscore"] = train["radscore"].astype(float)
    y = train["label"].astype(int)
    if kind == "ordinal":
        res = OrderedModel(y, X, distr="logit").fit(method="bfgs", disp=False, maxiter=2000)
    else:
        res = MNLogit(y, sm.add_constant(X)).fit(disp=False, maxiter=2000, method="bfgs")
    return res, list(X.columns)


def predict(res, df: pd.DataFrame, variables: list[str], kind: str) -> np.ndarray:
    import statsmodels.api as sm
    X = design(df, variables)
    X["radscore"] = df["radscore"].astype(float)
    if kind != "ordinal":
        X = sm.add_constant(X, has_constant="add")
    return np.asarray(res.predict(X))


def nomogram_figure(res, cols: list[str], train: pd.DataFrame, variables: list[str], path: str) -> None:
    """Points nomogram of the proportional-odds model: each variable's range -> 0-100 points
    (largest effect = 100), total points -> P(class >= 1) and P(class = 2)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X = design(train, variables)
    X["radscore"] = train["radscore"].astype(float)
    beta = res.params[cols].to_numpy()
    thr = np.asarray(res.model.transform_threshold_params(res.params))[1:-1]  # cut-points
    lo, hi = X.min().to_numpy(), X.max().to_numpy()
    eff = np.abs(beta * (hi - lo))
    scale = 100.0 / max(eff.max(), 1e-12)
    n = len(cols)
    fig, ax = plt.subplots(figsize=(9, 0.7 * (n + 5)))
    ypos = n + 3
    ax.plot([0, 100], [ypos, ypos], "k-")
    for t in range(0, 101, 10):
        ax.text(t, ypos + 0.25, str(t), ha="center", fontsize=7)
    ax.text(-5, ypos, "Points", ha="right", va="center", fontsize=8)
    base = np.where(beta >= 0, lo, hi)  # each variable's 0-point end
    for i, (c, b) in enumerate(zip(cols, beta)):
        y0 = ypos - 1 - i
        vals = np.linspace(lo[i], hi[i], 5)
        pts = (vals - base[i]) * b * scale
        ax.plot([pts.min(), pts.max()], [y0, y0], "k-")
        for v, p in zip(vals, pts):
            ax.text(p, y0 + 0.2, f"{v:.3g}", ha="center", fontsize=6)
        ax.text(-5, y0, c, ha="right", va="center", fontsize=8)
    # Total points -> linear predictor -> probabilities.
    tot_max = float(sum(eff) * scale)
    lp0 = float(np.sum(base * beta))
    y_tot = ypos - n - 1
    ax.plot([0, 100], [y_tot, y_tot], "k-")
    for t in np.linspace(0, 100, 11):
        ax.text(t, y_tot + 0.2, f"{t / 100 * tot_max:.0f}", ha="center", fontsize=6)
    ax.text(-5, y_tot, "Total points", ha="right", va="center", fontsize=8)
    for j, (name, cut) in enumerate((("P(class >= 1)", thr[0]), ("P(class = 2)", thr[-1]))):
        yy = y_tot - 1 - j
        ax.plot([0, 100], [yy, yy], "k-")
        for t in np.linspace(0, 100, 6):
            lp = lp0 + t / 100 * tot_max / scale
            ax.text(t, yy + 0.2, f"{1 / (1 + np.exp(cut - lp)):.2f}", ha="center", fontsize=6)
        ax.text(-5, yy, name, ha="right", va="center", fontsize=8)
    ax.set_xlim(-35, 105)
    ax.set_ylim(y_tot - 3, ypos + 1)
    ax.axis("off")
    ax.set_title("liu2025_dlr combined model nomogram (proportional-odds logistic, training fit)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def calibration_figure(probs: dict[str, tuple[np.ndarray, np.ndarray]], path: str, n_bins: int = 5) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharey=True)
    for k, ax in enumerate(axes):
        for split, (y, P) in probs.items():
            yk = (y == k).astype(int)
            if yk.sum() in (0, len(yk)):
                continue
            fo, mp = calibration_curve(yk, P[:, k], n_bins=n_bins, strategy="quantile")
            ax.plot(mp, fo, "o-", label=f"{split} (n={len(y)})")
        ax.plot([0, 1], [0, 1], "k:")
        ax.set_title(f"class {k}")
        ax.set_xlabel("predicted probability")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("observed frequency")
    fig.suptitle("liu2025_dlr combined model calibration (quantile bins)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(fused: pd.DataFrame, cohort: pd.DataFrame, variables: list[str], alpha: float, kind: str,
        allow_label_components: bool = False):
    """Clinical tests on training rows, the combined model fitted there, its predictions on
    every split. Gives (summary dict, predictions in the evaluation schema, fit for draw()).
    ASTLOF components among ``variables`` are refused unless ``allow_label_components``."""
    from vfrepro.errors import InputError
    from vfrepro.stats import multiclass_table

    from .classifier import predictions

    comps = check_candidates(list(variables), allow_label_components)
    missing = [v for v in variables if v not in cohort.columns]
    if missing:
        raise InputError(f"cohort table lacks clinical variable(s) {missing} (liu2025_dlr.nomogram.clinical)",
                         field=missing[0])
    c = cohort.set_index("key")
    df = fused[["case_id", "split", "label", "radscore"]].join(c[variables])
    train = df[df["split"] == "train"]
    tests = clinical_tests(train, variables)
    chosen = tests.loc[tests["p"] < alpha, "variable"].tolist()
    res, cols = fit_combined(train, chosen, kind)
    out = {"candidates": list(variables), "allow_label_components": bool(allow_label_components),
           "label_components_among_candidates": comps,
           "label_components_in_model": [v for v in chosen if v in comps],
           "tests": tests.to_dict(orient="records"), "alpha": alpha, "selected_clinical": chosen, "model": kind,
           "params": {k: float(v) for k, v in res.params.items()} if hasattr(res.params, "items") else
           np.asarray(res.params).tolist()}
    probs, perf = {}, {}
    preds = []
    for s in ("train", "internal", "external", "prospective"):
        d = df[df["split"] == s]
        if d.empty:
            continue
        P = predict(res, d, chosen, kind)
        probs[s] = (d["label"].to_numpy(), P)
        preds.append(predictions(d.index, d["case_id"], d["split"], d["label"], P, [0, 1, 2], kind))
        if len(set(d["label"])) == 3:
            t = multiclass_table(d["label"].to_numpy(), P, classes=[0, 1, 2], n_boot=0)
            perf[s] = {"macro_auc": t["overall"]["macro_auc"]["value"], "accuracy": t["overall"]["accuracy"]["value"]}
    out["performance"] = perf
    out["chosen"] = [list(r) for r in CHOSEN] + (
        [["nomogram.allow_label_components", "true",
          f"set in config: ASTLOF component(s) {comps} were candidates, so the combined model may predict the "
          f"label from part of its definition"]] if comps else [])
    fit = {"res": res, "cols": cols, "train": train, "chosen": chosen, "kind": kind, "probs": probs}
    return out, pd.concat(preds, ignore_index=True), fit


def draw(fit: dict, nomogram_png: str, calib_png: str) -> None:
    """The nomogram (of the ordinal model) and the calibration figure of a run()."""
    res, cols, train, chosen = fit["res"], fit["cols"], fit["train"], fit["chosen"]
    if fit["kind"] != "ordinal":  # the nomogram is drawn for the ordinal model; a multinomial one has K-1 predictors
        res, cols = fit_combined(train, chosen, "ordinal")
    nomogram_figure(res, cols, train, chosen, nomogram_png)
    calibration_figure(fit["probs"], calib_png)
