"""Same seed, same SHAP values: KernelExplainer samples coalitions from numpy's global RNG."""

import numpy as np
import pandas as pd
from vfrepro.classify import make_estimator
from vfrepro.explain.shap_figures import shap_values


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(60, 12)), columns=[f"f{i}" for i in range(12)])
    y = (X["f0"] + X["f1"] > 0).astype(int) + (X["f2"] > 1).astype(int)
    return X, y


def test_kernel_shap_is_reproducible_and_seed_dependent():
    X, y = _data()
    model = make_estimator("SVM", 0).fit(X, y)  # the zoo's SVM (calibrated SVC, scikit-learn 1.9)
    a = shap_values(model, "SVM", X, X.iloc[:5], background=5, nsamples=40, seed=3)[0]
    np.random.seed(12345)  # unrelated global state must not matter
    b = shap_values(model, "SVM", X, X.iloc[:5], background=5, nsamples=40, seed=3)[0]
    c = shap_values(model, "SVM", X, X.iloc[:5], background=5, nsamples=40, seed=4)[0]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_prospective_decision_cases_are_a_seeded_draw(tmp_path):
    """The shap stage's Fig 8 inputs: the same seed gives the same prospective cases and values."""
    import json

    from vfrepro.classify import save_models
    from vfrepro.cli import main
    X, y = _data(1)
    fused = X.assign(case_id=[f"c{i // 2}" for i in range(len(X))], split=["train"] * 40 + ["prospective"] * 20,
                     site="s1", label=y.to_numpy(), radscore=0.0)
    fused.index = [f"c{i // 2}:{20 + i % 2}" for i in range(len(X))]
    fused.index.name = "key"
    fused.to_csv(tmp_path / "fused.csv")
    tr = (fused["split"] == "train").to_numpy()
    feats = list(X.columns)
    save_models({"SVM": make_estimator("SVM", 0).fit(X[tr], y[tr])}, tmp_path / "m.joblib",
                {"best": "SVM", "features": feats})
    outs = []
    for run in ("a", "b"):
        d = tmp_path / run
        args = ["liu2025_dlr", "shap", "--cfg", json.dumps({"seed": 5, "shap": {"max_cases": 6, "background": 4,
                                                                               "nsamples": 30}}),
                "--backbone", "radimagenet", "--models", str(tmp_path / "m.joblib"), "--fused", str(tmp_path / "fused.csv"),
                "--table", str(d / "t.csv"), "--bar-stacked", str(d / "s.png"), "--prospective-table", str(d / "p.csv")]
        for o in ("bar", "beeswarm", "decision", "prospective-decision"):
            args += [f"--{o}", *[str(d / f"{o}{k}.png") for k in range(3)]]
        d.mkdir()
        assert main(args) == 0
        outs.append(((d / "t.csv").read_bytes(), (d / "p.csv").read_bytes()))
    assert outs[0] == outs[1]
    p = pd.read_csv(tmp_path / "a" / "p.csv")
    assert set(p["truth"]) == set(y[~tr]) & set(y[tr]) and p["key"].str.startswith("c").all()
    assert np.allclose(p["model_output"], p["p_class"], atol=0.05)  # Kernel SHAP's values add up to p
