# wang2024_twostage: constants and input functions of rules.smk beside this file.

WANG = "results/wang2024_twostage"
WANG_CFG = config.get("wang2024_twostage", {})
WANG_BACKBONES = list(WANG_CFG.get("backbones", ["resnet18", "mobilenet_v2"]))
WANG_DETECTOR = WANG_CFG.get("classifier", {}).get("detector", "resnet18")


wildcard_constraints:
    backbone="resnet18|mobilenet_v2",


def wang_params(stage):
    return stage_params("wang2024_twostage", stage)


def wang_detect_params(wildcards):
    """The detect stage's keys with only this backbone's weights and overrides (a change to the
    other backbone's entries does not rerun this job)."""
    keep = [wildcards.backbone]
    return stage_params("wang2024_twostage", "detect",
                        {"detector.weights": keep, "detector.backbone_overrides": keep})


def wang_detector_weights(wildcards):
    path = WANG_CFG.get("detector", {}).get("weights", {}).get(wildcards.backbone, "")
    return [path] if path else []


def wang_classifier_weights(wildcards):
    path = WANG_CFG.get("classifier", {}).get("weights", "")
    return [path] if path else []


def wang_preprocessed(wildcards):
    """Each passed case's preprocessed CT and mask, and its lesion map where the manifest names one."""
    index = cohort_index()
    files = expand("results/preprocess/{case}/{f}.nii.gz", case=index.cases, f=["image", "mask_reader1"])
    for case in index.cases:
        lesion = index.first[case].get("lesion_path")
        if isinstance(lesion, str) and lesion:
            files.append(lesion)
    return files


def wang_targets():
    return registry.targets("wang2024_twostage", WANG_CFG)


STUDY_TARGETS["wang2024_twostage"] = wang_targets
