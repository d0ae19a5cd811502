# qu2025_mil: constants and input functions of rules.smk beside this file.

QU = "results/qu2025_mil"
QU_CFG = config.get("qu2025_mil", {})
QU_VIEWS = ["S", "Z"]


wildcard_constraints:
    view="S|Z",


def qu_params(stage):
    return stage_params("qu2025_mil", stage)


def qu_preprocessed(wildcards):
    """The preprocessed images and masks of every case that passed ingest (the bags read them)."""
    return expand("results/preprocess/{case}/{f}.nii.gz", case=ok_cases(), f=["image", "mask_reader1"])


def qu_lesion_maps(wildcards):
    """The lesion maps the manifest names (instance labels); none for a cohort without them."""
    table = vertebrae()
    if "lesion_path" not in table.columns:
        return []
    return sorted(set(table["lesion_path"].dropna().astype(str)) - {""})


def qu_weights(wildcards):
    """The local AlexNet weights file, when one is set (the job reads it)."""
    path = QU_CFG.get("weights", "")
    return [path] if path else []


def qu_targets():
    return registry.targets("qu2025_mil", QU_CFG)


STUDY_TARGETS["qu2025_mil"] = qu_targets
