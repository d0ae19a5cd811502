# rosenberg_xray: constants and input functions of rules.smk beside this file.

RX = "results/rosenberg_xray"
RX_CFG = config.get("rosenberg_xray", {})
RX_ARCHS = RX_CFG.get("archs", ["resnet18", "vgg16"])
RX_CAM_ARCHS = [a for a in RX_CFG.get("cam", {}).get("archs", ["resnet18"]) if a in RX_ARCHS]


def rx_params(stage, arch=None):
    """The stage's config keys as JSON; a training job sees only its own architecture's
    weights, trainable layers and overrides."""
    pick = {k: [arch] for k in ("weights", "trainable", "arch_overrides")} if arch else None
    return stage_params("rosenberg_xray", stage, pick)


def rx_weights(wildcards):
    """The architecture's pretrained weights file, when one is set (the job reads it)."""
    weights = RX_CFG.get("weights", {})
    path = weights.get(wildcards.arch, "") if isinstance(weights, dict) else weights
    return [path] if path else []


def rx_target_layer(wildcards):
    layer = RX_CFG.get("cam", {}).get("target_layer", "")
    return f"--target-layer {shlex.quote(layer)}" if layer else ""


def rx_targets():
    return registry.targets("rosenberg_xray", RX_CFG, arch=RX_ARCHS, cam_arch=RX_CAM_ARCHS)


STUDY_TARGETS["rosenberg_xray"] = rx_targets
