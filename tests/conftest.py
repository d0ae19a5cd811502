import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """../shared/realdata, the real images of the project (required in CI)."""
    if not REALDATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{REALDATA} missing in CI")
        pytest.skip(f"real test images not found at {REALDATA}")
    return REALDATA


def require_tool(name: str) -> str:
    """Path of a system tool; skip (or fail under CI=true) when it is missing."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required in CI (tests/setup_system.sh installs it)")
        pytest.skip(f"{name} not installed (make system-deps)")
    return path
