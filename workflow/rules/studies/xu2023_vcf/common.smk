# xu2023_vcf: constants and input functions of rules.smk beside this file.

XU = "results/xu2023_vcf"
XU_CFG = config.get("xu2023_vcf", {})
XU_ARCH = XU_CFG.get("arch", "resnet18")


def xu_params(stage):
    """The stage's config keys as JSON (training: its architecture's entries only)."""
    pick = {k: [XU_ARCH] for k in ("weights", "trainable", "arch_overrides")} if stage == "train" else None
    return stage_params("xu2023_vcf", stage, pick)


def xu_weights(wildcards):
    """The architecture's pretrained weights file, when one is set (the job reads it)."""
    weights = XU_CFG.get("weights", {})
    path = weights.get(XU_ARCH, "") if isinstance(weights, dict) else weights
    return [path] if path else []


def xu_targets():
    return registry.targets("xu2023_vcf", XU_CFG)


STUDY_TARGETS["xu2023_vcf"] = xu_targets
