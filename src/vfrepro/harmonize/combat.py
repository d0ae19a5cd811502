"""ComBat harmonisation that is fitted on training rows and applied to any rows.

The estimates come from neuroCombat 0.2.12's own functions (location/scale model, priors,
parametric and non-parametric empirical Bayes); we build the design matrix and write the
apply step ourselves, because:

* ``neuroCombat()`` casts a DataFrame to float32 and continuous covariates to float32
  (``make_design_matrix``), which costs ~1e-7 relative precision; we pass float64 arrays
  and our own float64 design to ``standardize_across_features`` and friends.
* ``neuroCombatFromTraining`` (marked "in development") replaces every new row's
  covariate effect by the *training mean* covariate effect, so biological signal in new
  rows is distorted.  :meth:`ComBat.transform` uses each new row's own covariates.
* ``standardize_across_features`` replaces a zero pooled variance with
  ``median(var != 0)`` (a boolean median), so we refuse constant features instead.

On the fitted rows the result equals ``sva::ComBat`` (checked to 1e-6 in
``tests/test_harmonize_combat.py``), with one stated difference: sva leaves features with
zero variance inside a batch unadjusted; neuroCombat sets that batch's variance to 1.

A single batch is the identity (there is no batch effect to remove; the EB priors are
undefined), which also makes harmonising twice the same as once.

Batches never seen at fit time (an external centre) can be harmonised with
``transform(..., new_batches="estimate")``: the new batch's location and scale are estimated
from its own rows, label-free, on the scale fixed by the fit (grand mean, pooled variance and
covariate effects), with the same empirical Bayes step ComBat applies to each batch. The fitted
model is not changed. For a batch that was fitted this gives back its fitted estimates exactly,
which ``tests/test_harmonize_combat.py`` checks.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
# The module, not the same-named function the package re-exports.
_nc = importlib.import_module("neuroCombat.neuroCombat")

__all__ = ["ComBat"]

_FORMAT = "vfrepro-combat-1"


def _as_str(s: pd.Series) -> pd.Series:
    return s.astype(str)


class ComBat:
    """ComBat with biological covariates preserved.

    Parameters: ``parametric`` (parametric EB priors, default True; False = sva's
    ``par.prior=FALSE`` non-parametric EB), ``mean_only`` (adjust batch means only, no scale),
    ``categorical`` (covariate names to treat as categorical even when numeric; non-numeric
    covariates are always categorical, first sorted level is the reference).

    ``fit(features, batch, covariates)`` takes a samples x features DataFrame, the batch
    of each row and optionally a samples x covariates DataFrame (same index).
    ``transform(...)`` takes the same for any rows whose batches were seen at fit time, and
    gives a harmonised DataFrame of the same shape, index and columns.
    """

    def __init__(self, parametric: bool = True, mean_only: bool = False, categorical: list[str] | None = None):
        self.parametric = bool(parametric)
        self.mean_only = bool(mean_only)
        self.categorical = list(categorical or [])
        self.fitted_ = False

    # ---------------------------------------------------------------- design
    def _covariate_design(self, cov: pd.DataFrame | None, n: int, fitting: bool) -> np.ndarray:
        if fitting:
            self.cov_spec_ = []
            if cov is not None:
                for c in cov.columns:
                    col = cov[c]
                    if col.isna().any():
                        raise ValueError(f"covariate {c!r} has missing values")
                    if c in self.categorical or not pd.api.types.is_numeric_dtype(col):
                        levels = sorted(_as_str(col).unique().tolist())
                        if len(levels) < 2:
                            raise ValueError(f"covariate {c!r} has a single level ({levels[0]!r}) in the fitted rows")
                        self.cov_spec_.append({"name": str(c), "kind": "categorical", "levels": levels})
                    else:
                        self.cov_spec_.append({"name": str(c), "kind": "continuous"})
        blocks = []
        for spec in self.cov_spec_:
            c = spec["name"]
            if cov is None or c not in cov.columns:
                raise ValueError(f"covariate {c!r} was used at fit time but is missing here")
            col = cov[c]
            if col.isna().any():
                raise ValueError(f"covariate {c!r} has missing values")
            if spec["kind"] == "categorical":
                s = _as_str(col).to_numpy()
                unseen = sorted(set(s) - set(spec["levels"]))
                if unseen:
                    raise ValueError(f"covariate {c!r} has level(s) {unseen} not seen at fit time")
                # Treatment coding, first level dropped: same column space as R's model.matrix.
                blocks.append(np.stack([(s == lv).astype(float) for lv in spec["levels"][1:]], axis=1))
            else:
                blocks.append(pd.to_numeric(col, errors="raise").to_numpy(dtype=float)[:, None])
        return np.hstack(blocks) if blocks else np.zeros((n, 0))

    def _check_inputs(self, features: pd.DataFrame, batch, covariates):
        if not isinstance(features, pd.DataFrame):
            raise ValueError("features must be a pandas DataFrame (samples x features)")
        batch = pd.Series(batch, index=features.index) if not isinstance(batch, pd.Series) else batch
        if len(batch) != len(features):
            raise ValueError(f"batch has {len(batch)} rows, features have {len(features)}")
        if batch.isna().any():
            raise ValueError("batch column has missing values")
        if covariates is not None:
            if isinstance(covariates, pd.Series):
                covariates = covariates.to_frame()
            if len(covariates) != len(features):
                raise ValueError(f"covariates have {len(covariates)} rows, features have {len(features)}")
            if covariates.shape[1] == 0:
                covariates = None
        X = features.to_numpy(dtype=float)
        if not np.isfinite(X).all():
            bad = features.columns[~np.isfinite(X).all(axis=0)].tolist()
            raise ValueError(f"feature column(s) {bad[:5]} have missing or infinite values")
        return X, _as_str(batch).to_numpy(), covariates

    # ---------------------------------------------------------------- fit
    def fit(self, features: pd.DataFrame, batch, covariates: pd.DataFrame | None = None) -> "ComBat":
        """Estimate ComBat parameters on these rows; gives self."""
        X, b, cov = self._check_inputs(features, batch, covariates)
        n, p = X.shape
        self.features_ = [str(c) for c in features.columns]
        levels, counts = np.unique(b, return_counts=True)
        single = levels[counts < 2]
        if len(single):
            raise ValueError(f"batch {single[0]!r} has a single row in the fitted data; ComBat cannot "
                             "estimate its variance (merge it or drop it)")
        self.batches_ = levels.tolist()
        Z = self._covariate_design(cov, n, fitting=True)
        self.fitted_ = True
        if len(levels) == 1:
            self.identity_ = True
            return self
        self.identity_ = False
        batch_onehot = (b[:, None] == levels[None, :]).astype(float)
        design = np.hstack([batch_onehot, Z])
        self._check_confounding(batch_onehot, Z)

        info = {
            "batch_levels": np.arange(len(levels)), "ref_level": None, "n_batch": len(levels),
            "n_sample": n, "sample_per_batch": counts.astype(int),
            "batch_info": [list(np.where(b == lv)[0]) for lv in levels], "design": design,
        }
        Xt = X.T.copy()  # neuroCombat works features x samples
        B_hat = np.linalg.solve(design.T @ design, design.T @ X).T  # p x (n_batch + q)
        resid_var = ((X - design @ B_hat.T) ** 2).mean(axis=0)
        # Constant, or exactly explained by batch + covariates: ComBat would divide by zero.
        tiny = resid_var <= 1e-24 * np.maximum(1.0, (X ** 2).mean(axis=0))
        const = [self.features_[j] for j in np.where(tiny | (np.ptp(X, axis=0) == 0))[0]]
        if const:
            raise ValueError(f"feature(s) {const[:5]} have zero variance after the model fit "
                             "(constant in the fitted rows); drop them before ComBat")
        s_data, stand_mean, var_pooled, _mod_mean = _nc.standardize_across_features(Xt, design, info)
        ls = _nc.fit_LS_model_and_find_priors(s_data, design, info, self.mean_only)
        if self.parametric:
            gamma_star, delta_star = _nc.find_parametric_adjustments(s_data, ls, info, self.mean_only)
        else:
            gamma_star, delta_star = _nc.find_non_parametric_adjustments(s_data, ls, info, self.mean_only)

        self.grand_mean_ = np.asarray(stand_mean[:, 0], float)
        self.var_pooled_ = np.asarray(var_pooled, float).ravel()
        self.beta_cov_ = B_hat[:, len(levels):].T.copy()  # q x p
        self.gamma_star_ = np.asarray(gamma_star, float)
        self.delta_star_ = np.asarray(delta_star, float)
        return self

    def _check_confounding(self, batch_onehot: np.ndarray, Z: np.ndarray) -> None:
        """Refuse a design where covariates are (jointly) determined by batch, like sva::ComBat."""
        design = np.hstack([batch_onehot, Z])
        if np.linalg.matrix_rank(design) == design.shape[1]:
            return
        ones = np.ones((len(Z), 1))
        if Z.shape[1] and np.linalg.matrix_rank(np.hstack([ones, Z])) < Z.shape[1] + 1:
            raise ValueError("the covariates are confounded with each other (design not of full rank); "
                             "remove one of " + ", ".join(s["name"] for s in self.cov_spec_))
        # Name the first covariate whose columns alone are explained by batch.
        col = 0
        for spec in self.cov_spec_:
            w = 1 if spec["kind"] == "continuous" else len(spec["levels"]) - 1
            blk = np.hstack([batch_onehot, Z[:, col:col + w]])
            if np.linalg.matrix_rank(blk) < blk.shape[1]:
                raise ValueError(f"covariate {spec['name']!r} is confounded with batch (it is determined by "
                                 "the batch in the fitted rows); ComBat would remove its effect — drop it")
            col += w
        raise ValueError("the covariates together are confounded with batch; remove one of "
                         + ", ".join(s["name"] for s in self.cov_spec_))

    # ---------------------------------------------------------------- apply
    def estimate_batch(self, features: pd.DataFrame, covariates: pd.DataFrame | None = None):
        """EB location/scale (gamma*, delta*) of ONE batch from its own rows, on the fitted scale.

        Uses no labels and changes nothing in the model; gives two arrays (one value per feature).
        """
        if not self.fitted_ or self.identity_:
            raise ValueError("estimate_batch needs a ComBat fitted on two or more batches")
        features = features.copy()
        features.columns = [str(c) for c in features.columns]
        X, _, cov = self._check_inputs(features[self.features_], np.zeros(len(features)), covariates)
        if len(X) < 2:
            raise ValueError("a new batch needs two or more rows to estimate its variance")
        Z = self._covariate_design(cov, len(X), fitting=False)
        mod = Z @ self.beta_cov_ if Z.shape[1] else 0.0
        sdat = ((X - self.grand_mean_ - mod) / np.sqrt(self.var_pooled_)).T  # features x samples
        g_hat = sdat.mean(axis=1)
        d_hat = np.ones(len(g_hat)) if self.mean_only else sdat.var(axis=1, ddof=1)
        g_bar, t2 = g_hat.mean(), g_hat.var(ddof=1)
        if not self.parametric:
            g, d = _nc.int_eprior(sdat, g_hat, d_hat)
            return np.asarray(g, float), (np.ones(len(g_hat)) if self.mean_only else np.asarray(d, float))
        if self.mean_only:
            return np.asarray(_nc.postmean(g_hat, g_bar, 1, 1, t2), float), np.ones(len(g_hat))
        g, d = _nc.it_sol(sdat, g_hat, d_hat, g_bar, t2, _nc.aprior(d_hat), _nc.bprior(d_hat))
        return np.asarray(g, float), np.asarray(d, float)

    def transform(self, features: pd.DataFrame, batch, covariates: pd.DataFrame | None = None,
                  new_batches: str = "error") -> pd.DataFrame:
        """Harmonise any rows with the fitted estimates and the rows' own covariates.

        A batch not seen at fit time is an error (``new_batches="error"``), is estimated from its
        own rows (``"estimate"``, see :meth:`estimate_batch`), or is left as it is
        (``"passthrough"``).
        """
        if new_batches not in ("error", "estimate", "passthrough"):
            raise ValueError(f"new_batches must be 'error', 'estimate' or 'passthrough', not {new_batches!r}")
        if not self.fitted_:
            raise ValueError("ComBat.transform called before fit")
        missing = [f for f in self.features_ if f not in map(str, features.columns)]
        if missing:
            raise ValueError(f"feature column(s) {missing[:5]} were fitted but are missing here")
        features = features.copy()
        features.columns = [str(c) for c in features.columns]
        X, b, cov = self._check_inputs(features[self.features_], batch, covariates)
        unseen = sorted(set(b) - set(self.batches_))
        if unseen and new_batches == "error":
            raise ValueError(f"batch {unseen[0]!r} was not in the fitted rows (fitted batches: {self.batches_}); "
                             "ComBat cannot harmonise a batch it has not estimated (new_batches='estimate' "
                             "estimates it from its own rows)")
        if self.identity_:
            if unseen and new_batches == "estimate":
                raise ValueError("a ComBat fitted on a single batch cannot estimate new batches")
            return pd.DataFrame(X, index=features.index, columns=self.features_)
        Z = self._covariate_design(cov, len(X), fitting=False)
        mod = Z @ self.beta_cov_ if Z.shape[1] else 0.0
        sd = np.sqrt(self.var_pooled_)
        gamma = np.zeros_like(X)
        delta = np.ones_like(X)
        seen = np.isin(b, self.batches_)
        idx = np.searchsorted(np.asarray(self.batches_), b[seen])
        gamma[seen], delta[seen] = self.gamma_star_[idx], self.delta_star_[idx]
        if new_batches == "estimate":
            for lv in unseen:
                rows = b == lv
                g, d = self.estimate_batch(features.loc[rows, self.features_],
                                           None if cov is None else cov.loc[rows])
                gamma[rows], delta[rows] = g, d
        s = (X - self.grand_mean_ - mod) / sd
        out = ((s - gamma) / np.sqrt(delta)) * sd + self.grand_mean_ + mod
        if new_batches == "passthrough":
            out[~seen] = X[~seen]
        return pd.DataFrame(out, index=features.index, columns=self.features_)

    def fit_transform(self, features, batch, covariates=None) -> pd.DataFrame:
        return self.fit(features, batch, covariates).transform(features, batch, covariates)

    # ---------------------------------------------------------------- persistence
    def save(self, path) -> None:
        """Write the fitted model as JSON (floats round-trip exactly)."""
        if not self.fitted_:
            raise ValueError("cannot save an unfitted ComBat")
        d = {"format": _FORMAT, "parametric": self.parametric, "mean_only": self.mean_only,
             "categorical": self.categorical, "features": self.features_, "batches": self.batches_,
             "covariates": self.cov_spec_, "identity": self.identity_}
        if not self.identity_:
            d.update(grand_mean=self.grand_mean_.tolist(), var_pooled=self.var_pooled_.tolist(),
                     beta_cov=self.beta_cov_.tolist(), gamma_star=self.gamma_star_.tolist(),
                     delta_star=self.delta_star_.tolist())
        Path(path).write_text(json.dumps(d))

    @classmethod
    def load(cls, path) -> "ComBat":
        """Read a model written by :meth:`save`."""
        d = json.loads(Path(path).read_text())
        if d.get("format") != _FORMAT:
            raise ValueError(f"{path}: not a vfrepro ComBat model (format {d.get('format')!r})")
        m = cls(d["parametric"], d["mean_only"], d["categorical"])
        m.features_, m.batches_, m.cov_spec_, m.identity_ = d["features"], d["batches"], d["covariates"], d["identity"]
        if not m.identity_:
            q = sum(1 if s["kind"] == "continuous" else len(s["levels"]) - 1 for s in m.cov_spec_)
            m.grand_mean_ = np.array(d["grand_mean"])
            m.var_pooled_ = np.array(d["var_pooled"])
            m.beta_cov_ = np.array(d["beta_cov"]).reshape(q, len(m.features_))
            m.gamma_star_ = np.array(d["gamma_star"])
            m.delta_star_ = np.array(d["delta_star"])
        m.fitted_ = True
        return m
