"""Run an R reference script on CSVs we write, read back its CSV answers.

Oracle tests call ``run_r(script, tmp_path, packages=[...], name=DataFrame, ...)``.  The R
side lives next to this file (``tests/oracle/*.R``); each script gets the work directory as
its only argument, reads ``<name>.csv`` there and writes ``out*.csv``.

If ``Rscript`` or an R package is missing the test is skipped with a message saying what to
install -- except under ``CI=true``, where a missing oracle is a failure (CI installs
``r-base r-cran-proc r-bioc-sva r-cran-psych r-cran-glmnet``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
DEBIAN = {"pROC": "r-cran-proc", "sva": "r-bioc-sva", "psych": "r-cran-psych", "glmnet": "r-cran-glmnet"}


def _missing(msg: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"R oracle required under CI=true: {msg}")
    pytest.skip(f"R oracle not available ({msg}); install R and "
                f"{' '.join(DEBIAN.values())} to run the comparison")


@functools.lru_cache(maxsize=None)
def _has_package(pkg: str) -> bool:
    r = subprocess.run(["Rscript", "-e", f"quit(status = !requireNamespace('{pkg}', quietly=TRUE))"],
                       capture_output=True, text=True)
    return r.returncode == 0


def require_r(*packages: str) -> None:
    """Skip (or fail under CI=true) unless Rscript and every named R package are present."""
    if shutil.which("Rscript") is None:
        _missing("Rscript not on PATH")
    for p in packages:
        if not _has_package(p):
            _missing(f"R package {p} ({DEBIAN.get(p, p)}) not installed")


def write_csv(df: pd.DataFrame, path: Path) -> None:
    # 17 significant digits: R reads back exactly the doubles we hold.
    df.to_csv(path, index=False, float_format="%.17g")


def run_r(script: str, workdir: Path, packages: tuple[str, ...] = (), **inputs: pd.DataFrame) -> Path:
    """Write ``inputs`` as CSVs into ``workdir``, run ``tests/oracle/<script>`` there, return ``workdir``."""
    require_r(*packages)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for name, df in inputs.items():
        write_csv(df, workdir / f"{name}.csv")
    r = subprocess.run(["Rscript", "--vanilla", str(HERE / script), str(workdir)],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"Rscript {script} failed (rc={r.returncode}):\n{r.stderr[-4000:]}")
    return workdir


def read_out(workdir: Path, name: str = "out") -> pd.DataFrame:
    return pd.read_csv(Path(workdir) / f"{name}.csv")
