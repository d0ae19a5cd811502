"""ComBat covariate checks on the cohort table, before any feature is extracted.

ComBat (vfrepro.harmonize.combat) refuses the same designs when it is fitted, hours later; these
checks find them in the manifest and name the config key that lists the covariate and the
sites involved: a covariate absent or blank, one with a single level in the training rows, and
one confounded with site (determined by the site in the training rows, so that ComBat would
remove its effect with the site's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vfrepro.errors import InputError


def _design(col: pd.Series, categorical: bool) -> np.ndarray:
    if categorical:
        s = col.astype(str).to_numpy()
        levels = sorted(set(s))
        return np.stack([(s == lv).astype(float) for lv in levels[1:]], axis=1)
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)[:, None]


def _per_site(col: pd.Series, site: pd.Series) -> str:
    parts = []
    for s, vals in col.groupby(site.to_numpy(), sort=True):
        u = sorted(map(str, vals.unique()))
        parts.append(f"{s}: {u[0]}" if len(u) == 1 else f"{s}: {len(u)} values")
    return "; ".join(parts)


def check_covariates(table: pd.DataFrame, covariates: list[str], train: pd.Series, *,
                     config_key: str, site_col: str = "site", categorical: tuple[str, ...] = (),
                     path: str | None = None) -> None:
    """Raise InputError for a ComBat covariate that cannot be preserved.

    `table`: the rows ComBat will see (one per vertebra, with case_id and `site_col`);
    `train`: boolean Series (same index) of the rows ComBat is fitted on. A text column, or
    one named in `categorical`, is categorical; other numeric columns are continuous.
    """
    lacking = [c for c in covariates if c not in table.columns]
    if lacking:
        raise InputError(f"{config_key} lists {lacking}, which the manifest lacks", path=path,
                         field=config_key)
    for c in covariates:
        blank = table[c].isna()
        if blank.any():
            first = table.index[blank][0]
            sites = sorted(table.loc[blank, site_col].astype(str).unique())
            raise InputError(f"ComBat covariate '{c}' ({config_key}) is blank on {int(blank.sum())} "
                             f"analysed row(s), site(s) {', '.join(sites)}; fill it in or remove it "
                             f"from {config_key}", case=table.at[first, "case_id"], path=path, field=c)
    fit = table[train.reindex(table.index, fill_value=False).to_numpy(dtype=bool)]
    if fit.empty:
        return
    site = fit[site_col].astype(str)
    onehot = (site.to_numpy()[:, None] == np.array(sorted(site.unique()))[None, :]).astype(float)
    blocks = []
    for c in covariates:
        cat = c in categorical or not pd.api.types.is_numeric_dtype(table[c])
        values = fit[c]
        if values.astype(str).nunique() < 2:
            raise InputError(f"ComBat covariate '{c}' ({config_key}) has a single level "
                             f"({values.astype(str).iloc[0]!r}) in the training rows (sites "
                             f"{', '.join(sorted(site.unique()))}): it cannot be preserved; remove it "
                             f"from {config_key}", path=path, field=c)
        z = _design(values, cat)
        blocks.append(z)
        if onehot.shape[1] < 2:
            continue  # one training site: ComBat leaves the features as they are
        blk = np.hstack([onehot, z])
        if np.linalg.matrix_rank(blk) < blk.shape[1]:
            raise InputError(f"ComBat covariate '{c}' ({config_key}) is confounded with site in the "
                             f"training rows (it is determined by the site: {_per_site(values, site)}); "
                             f"ComBat would remove its effect with the site's: remove it from "
                             f"{config_key} or add training rows", path=path, field=c)
    if onehot.shape[1] >= 2 and len(blocks) > 1:
        full = np.hstack([onehot, *blocks])
        if np.linalg.matrix_rank(full) < full.shape[1]:
            raise InputError(f"ComBat covariates {covariates} ({config_key}) together are confounded "
                             f"with site (or with each other) in the training rows of sites "
                             f"{', '.join(sorted(site.unique()))}; remove one from {config_key}",
                             path=path, field=config_key)
