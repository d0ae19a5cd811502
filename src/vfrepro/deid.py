"""Pseudonymous case ids: the only patient key that reaches results, file names, logs and figures."""

from __future__ import annotations

import hashlib
import hmac
import os

# Demo salt. A real cohort must set its own secret `deid.salt` in config, or anyone who can
# guess a patient key could recompute the pseudonym.
DEFAULT_SALT = "vfrepro-demo-salt"
DEMO_SALT_WARNING = ("WARNING: a real cohort (cohort.source: manifest) is pseudonymised with the PUBLIC "
                     "demo salt: anyone who can guess a patient id can recompute its case id. Export "
                     "VFREPRO_SALT (a secret) and rerun from validate-manifest.")


def case_id(patient_key: str, salt: str = DEFAULT_SALT) -> str:
    """Map a cohort's patient key to a stable pseudonym like 'c3f9a01b2e4'."""
    digest = hmac.new(salt.encode(), str(patient_key).encode(), hashlib.sha256).hexdigest()
    return "c" + digest[:10]


# DICOM attributes that identify a person or an institution; ingest never copies them out.
PHI_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientAddress", "OtherPatientIDs",
    "InstitutionName", "InstitutionAddress", "ReferringPhysicianName", "AccessionNumber",
    "OperatorsName", "PerformingPhysicianName", "StudyID",
)


def default_salt() -> str:
    """The salt in force: $VFREPRO_SALT (kept out of config files and logs), else the demo salt."""
    return os.environ.get("VFREPRO_SALT") or DEFAULT_SALT
