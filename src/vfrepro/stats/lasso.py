"""L1-penalised logistic / multinomial regression with lambda chosen by k-fold CV (glmnet-style).

Objective, as glmnet with ``alpha = 1``: ``-loglik / n + lambda * sum |beta|`` on features
standardised glmnet's way (centred, divided by the population SD, i.e. ``ddof = 0``),
intercepts unpenalised.  Binary uses one coefficient vector (``family = "binomial"``);
K > 2 classes use K vectors (``family = "multinomial"``, ungrouped lasso).  We solve it with
scikit-learn at ``C = 1 / (n * lambda)``: liblinear (newGLMNET) for binary, SAGA warm-started
along the path for multinomial.

Path: ``lambda_max`` is the smallest lambda with every coefficient zero, computed from the
data as glmnet does; then ``n_lambda`` values log-spaced down to ``lambda_max * ratio``
(ratio 0.01 when n < p, else 1e-4, glmnet's ``lambda.min.ratio``).

CV: seeded random folds of near-equal size (glmnet ``foldid``), features re-standardised
on each training fold, deviance on the held-out fold; ``lambda.min`` minimises the mean CV
deviance and ``lambda.1se`` is the largest lambda whose mean deviance is within one SE of
that minimum, SE computed as cv.glmnet's (fold means weighted by fold size).  Checked
against glmnet in ``tests/test_stats_lasso.py``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

__all__ = ["standardize", "lambda_max", "lambda_path", "fit_path", "make_folds", "cv_lasso", "LassoCVResult"]

_EPS_P = 1e-5  # glmnet clips predicted probabilities to [1e-5, 1 - 1e-5] for the CV deviance


def standardize(X: np.ndarray):
    """Centre and scale columns by the population SD (glmnet's ``standardize=TRUE``).

    Gives ``(Xs, mean, sd)``; raises ValueError for a constant column (its index).
    """
    X = np.asarray(X, float)
    mu = X.mean(axis=0)
    sd = np.sqrt(((X - mu) ** 2).mean(axis=0))
    if (sd == 0).any():
        raise ValueError(f"feature column(s) {np.where(sd == 0)[0].tolist()[:5]} are constant; drop them")
    return (X - mu) / sd, mu, sd


def _onehot(y: np.ndarray, K: int) -> np.ndarray:
    return np.eye(K)[y]


def lambda_max(Xs: np.ndarray, y: np.ndarray, K: int) -> float:
    """Smallest lambda at which all coefficients are zero, for standardised Xs and codes y."""
    n = len(y)
    if K == 2:
        r = y - y.mean()
        return float(np.abs(Xs.T @ r).max() / n)
    Yk = _onehot(y, K)
    return float(np.abs(Xs.T @ (Yk - Yk.mean(axis=0))).max() / n)


def lambda_path(Xs, y, K, n_lambda: int = 100, ratio: float | None = None) -> np.ndarray:
    """glmnet's default path: ``n_lambda`` log-spaced values from lambda_max down to ratio * lambda_max."""
    n, p = Xs.shape
    if ratio is None:
        ratio = 0.01 if n < p else 1e-4
    lm = lambda_max(Xs, y, K)
    return lm * np.exp(np.linspace(0.0, np.log(ratio), n_lambda))


def fit_path(Xs, y, K, lambdas, tol: float = 1e-8, max_iter: int = 100_000):
    """Fit the path on standardised Xs.  Gives ``(coef (L, C, p), intercept (L, C))`` with
    C = 1 for binary and C = K for multinomial."""
    n, p = Xs.shape
    C = 1 if K == 2 else K
    coefs = np.zeros((len(lambdas), C, p))
    ints = np.zeros((len(lambdas), C))
    if K == 2:
        # liblinear's newGLMNET solver: fast and tight for binary.  It penalises the intercept, so
        # it gets a constant column scaled 1e4: the penalty on the real intercept is lambda*|b|/1e4.
        m = LogisticRegression(l1_ratio=1.0, solver="liblinear", tol=tol, max_iter=max_iter,
                               intercept_scaling=1e4)
    else:
        # The multinomial objective needs SAGA; random_state pins its sample order (determinism).
        m = LogisticRegression(l1_ratio=1.0, solver="saga", tol=tol, max_iter=max_iter, warm_start=True,
                               random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for i, lam in enumerate(lambdas):
            m.set_params(C=1.0 / (n * lam))
            m.fit(Xs, y)
            coefs[i], ints[i] = m.coef_, m.intercept_
    if C == K:
        # Softmax is unchanged by a shift common to all classes: report glmnet's centring
        # (intercepts sum to zero); coefficients are already pinned by the L1 penalty.
        ints -= ints.mean(axis=1, keepdims=True)
    return coefs, ints


def _predict_proba(Xs, coef, intercept, K):
    eta = Xs @ coef.T + intercept  # (n, C)
    if K == 2:
        p1 = 1.0 / (1.0 + np.exp(-eta[:, 0]))
        return np.column_stack([1 - p1, p1])
    eta -= eta.max(axis=1, keepdims=True)
    e = np.exp(eta)
    return e / e.sum(axis=1, keepdims=True)


def make_folds(y: np.ndarray, nfolds: int, seed: int) -> np.ndarray:
    """Seeded fold ids 0..nfolds-1 of near-equal size (glmnet: ``sample(rep(1:nfolds, length = n))``)."""
    n = len(y)
    if nfolds < 3 or nfolds > n:
        raise ValueError(f"nfolds must be between 3 and n = {n}, got {nfolds}")
    return np.random.default_rng(seed).permutation(np.arange(n) % nfolds)


@dataclass
class LassoCVResult:
    """Everything a table needs: path, CV curve, the two chosen lambdas and their models."""

    features: list
    classes: list
    lambdas: np.ndarray
    cvm: np.ndarray
    cvsd: np.ndarray
    lambda_min: float
    lambda_1se: float
    coef_path: np.ndarray  # (L, C, p) on the standardised scale
    intercept_path: np.ndarray
    x_mean: np.ndarray
    x_sd: np.ndarray
    foldid: np.ndarray = field(repr=False)

    def _at(self, lam):
        return int(np.argmin(np.abs(self.lambdas - lam)))

    def coef(self, lam: float, scale: str = "standardized") -> pd.DataFrame:
        """Coefficients at a path lambda: rows = features (+ "(Intercept)"), columns = classes.

        ``scale="original"`` divides by the feature SD and moves the centring into the
        intercept (glmnet's reported coefficients)."""
        i = self._at(lam)
        b, a = self.coef_path[i], self.intercept_path[i]
        if scale == "original":
            b = b / self.x_sd
            a = a - b @ self.x_mean
        elif scale != "standardized":
            raise ValueError(f"scale must be 'standardized' or 'original', got {scale!r}")
        cols = ["coef"] if b.shape[0] == 1 else [str(c) for c in self.classes]
        df = pd.DataFrame(b.T, index=list(map(str, self.features)), columns=cols)
        return pd.concat([pd.DataFrame([a], index=["(Intercept)"], columns=cols), df])

    def selected(self, lam: float) -> list:
        """Features with a nonzero coefficient (for any class) at this lambda."""
        b = self.coef_path[self._at(lam)]
        return [str(f) for f, nz in zip(self.features, (b != 0).any(axis=0)) if nz]

    def as_dict(self) -> dict:
        return {
            "classes": [str(c) for c in self.classes],
            "family": "binomial" if len(self.classes) == 2 else "multinomial",
            "lambda_min": float(self.lambda_min), "lambda_1se": float(self.lambda_1se),
            "selected_min": self.selected(self.lambda_min), "selected_1se": self.selected(self.lambda_1se),
            "coef_min": self.coef(self.lambda_min).to_dict(), "coef_1se": self.coef(self.lambda_1se).to_dict(),
            "path": {"lambda": self.lambdas.tolist(), "cvm": self.cvm.tolist(), "cvsd": self.cvsd.tolist(),
                     "n_selected": [int((b != 0).any(axis=0).sum()) for b in self.coef_path]},
        }


def cv_lasso(X, y, nfolds: int = 10, seed: int = 0, n_lambda: int = 100, ratio: float | None = None,
             foldid=None, lambdas=None, tol: float = 1e-8) -> LassoCVResult:
    """Lasso path + k-fold CV (deviance).  Takes X (n, p) array or DataFrame, y labels (two
    classes -> binomial, more -> multinomial; classes in sorted order), ``nfolds``, ``seed``
    (or explicit ``foldid`` 0..k-1), path options.  Gives a :class:`LassoCVResult`."""
    features = list(X.columns) if isinstance(X, pd.DataFrame) else [f"x{j}" for j in range(np.shape(X)[1])]
    Xa = np.asarray(X, float)
    if not np.isfinite(Xa).all():
        raise ValueError("features contain missing or infinite values")
    classes, yc = np.unique(np.asarray(y), return_inverse=True)
    K = len(classes)
    if K < 2:
        raise ValueError(f"the outcome has a single class ({classes[0]!r}); nothing to classify")
    Xs, mu, sd = standardize(Xa)
    lams = lambda_path(Xs, yc, K, n_lambda, ratio) if lambdas is None else np.asarray(lambdas, float)
    coefs, ints = fit_path(Xs, yc, K, lams, tol)

    fid = make_folds(yc, nfolds, seed) if foldid is None else np.asarray(foldid, int)
    folds = np.unique(fid)
    dev = np.zeros((len(folds), len(lams)))
    wts = np.zeros(len(folds))
    for fi, f in enumerate(folds):
        tr, te = fid != f, fid == f
        if len(np.unique(yc[tr])) < K:
            raise ValueError(f"fold {f}: a class is missing from its training rows; use fewer folds")
        Xtr, mtr, str_ = standardize(Xa[tr])
        Xte = (Xa[te] - mtr) / str_
        c_f, i_f = fit_path(Xtr, yc[tr], K, lams, tol)
        Yte = _onehot(yc[te], K)
        for li in range(len(lams)):
            P = np.clip(_predict_proba(Xte, c_f[li], i_f[li], K), _EPS_P, 1 - _EPS_P)
            dev[fi, li] = -2 * (Yte * np.log(P)).sum(axis=1).mean()
        wts[fi] = te.sum()
    cvm = (wts[:, None] * dev).sum(axis=0) / wts.sum()
    cvsd = np.sqrt((wts[:, None] * (dev - cvm) ** 2).sum(axis=0) / wts.sum() / (len(folds) - 1))
    lam_min = lams[cvm <= cvm.min()].max()
    i_min = int(np.where(lams == lam_min)[0][0])
    lam_1se = lams[cvm <= cvm[i_min] + cvsd[i_min]].max()
    return LassoCVResult(features, classes.tolist(), lams, cvm, cvsd, float(lam_min), float(lam_1se),
                         coefs, ints, mu, sd, fid)
