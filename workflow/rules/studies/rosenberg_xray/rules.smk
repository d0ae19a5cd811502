# rosenberg_xray: fracture vs no fracture on lateral radiograph vertebra crops, ResNet18 vs
# VGG16 (Sanchez Rosenberg et al.; seed 001). Per architecture: patient-grouped k-fold CV over
# the config grid on the training splits, refit on all of them, predict the test split
# (src/vfrepro/deep). Then Figure 4 layout (published beside reproduced), ROC + DeLong, CAMs.
# Constants and input functions: common.smk beside this file. Each rule's config params hold
# only the keys its command reads (the registry's stage_config, src/vfrepro/data/studies.yaml).

rule rosenberg_xray_train:
    input:
        manifest=VALIDATED_MANIFEST,
        passed=lambda w: passed_cases_file(),
        weights=rx_weights,
    output:
        model=f"{RX}/{{arch}}/model.pt",
        predictions=f"{RX}/{{arch}}/predictions.csv",
        epoch_log=f"{RX}/{{arch}}/epoch_log.csv",
        cv_summary=f"{RX}/{{arch}}/cv_summary.csv",
        cv_folds=f"{RX}/{{arch}}/cv_folds.csv",
        info=f"{RX}/{{arch}}/train_info.json",
    log:
        "logs/rosenberg_xray/train_{arch}.log",
    wildcard_constraints:
        arch="|".join(RX_ARCHS),
    params:
        cfg=lambda w: rx_params("train", w.arch),
        out=lambda w: f"{RX}/{w.arch}",
    threads: RX_CFG.get("threads", 1)
    resources:
        gpu=1,
        mem_mb=RX_CFG.get("mem_mb", 4000),
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro rosenberg_xray train --arch {wildcards.arch:q} --manifest {input.manifest:q} "
        "--cases {input.passed:q} --config-json {params.cfg} --out {params.out:q} "
        "--threads {threads} > {log:q} 2>&1"


rule rosenberg_xray_cam:
    input:
        manifest=VALIDATED_MANIFEST,
        passed=lambda w: passed_cases_file(),
        model=f"{RX}/{{arch}}/model.pt",
        predictions=f"{RX}/{{arch}}/predictions.csv",
    output:
        png=report(f"{RX}/cam_{{arch}}.png", caption="../../../report/rosenberg_xray_cam.rst",
                   category="rosenberg_xray"),
        csv=f"{RX}/cam_{{arch}}.csv",
        lesion=f"{RX}/cam_{{arch}}_lesion.csv",
        lesion_summary=f"{RX}/cam_{{arch}}_lesion_summary.csv",
    log:
        "logs/rosenberg_xray/cam_{arch}.log",
    wildcard_constraints:
        arch="|".join(RX_ARCHS),
    params:
        # the registry's stage_config of this rule: seed, cam.per_group, cam.target_layer
        per_group=RX_CFG.get("cam", {}).get("per_group", 4),
        seed=RX_CFG.get("seed", 0),
        target_layer=rx_target_layer,
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro rosenberg_xray cam --model {input.model:q} --predictions {input.predictions:q} "
        "--manifest {input.manifest:q} --cases {input.passed:q} --out-png {output.png:q} "
        "--out-csv {output.csv:q} --out-lesion-csv {output.lesion:q} "
        "--out-lesion-summary {output.lesion_summary:q} --per-group {params.per_group:q} --seed {params.seed:q} "
        "{params.target_layer} > {log:q} 2>&1"


rule rosenberg_xray_evaluate:
    input:
        predictions=expand(f"{RX}/{{arch}}/predictions.csv", arch=RX_ARCHS),
        infos=expand(f"{RX}/{{arch}}/train_info.json", arch=RX_ARCHS),
        manifest=VALIDATED_MANIFEST,
        passed=lambda w: passed_cases_file(),
    output:
        metrics=report(f"{RX}/metrics.csv", caption="../../../report/rosenberg_xray_metrics.rst",
                       category="rosenberg_xray"),
        figure4=report(f"{RX}/figure4_table.csv", caption="../../../report/rosenberg_xray_figure4.rst",
                       category="rosenberg_xray"),
        delong=f"{RX}/delong.json",
        confusion=report(f"{RX}/confusion_matrices.png",
                         caption="../../../report/rosenberg_xray_confusion.rst", category="rosenberg_xray"),
        roc=report(f"{RX}/roc.png", caption="../../../report/rosenberg_xray_roc.rst",
                   category="rosenberg_xray"),
        figures23=report(f"{RX}/figures2_3.png", caption="../../../report/rosenberg_xray_figures2_3.rst",
                         category="rosenberg_xray"),
        figures23_csv=f"{RX}/figures2_3.csv",
        chosen=f"{RX}/chosen.csv",
        md=report(f"{RX}/tables.md", caption="../../../report/rosenberg_xray_tables.rst", category="rosenberg_xray"),
    log:
        "logs/rosenberg_xray/evaluate.log",
    params:
        # the registry's stage_config of this rule: archs, seed, n_boot
        archs=list(RX_ARCHS),
        seed=RX_CFG.get("seed", 0),
        n_boot=RX_CFG.get("n_boot", 1000),
        cohort=config["cohort"]["source"],
        out=lambda w, output: os.path.dirname(output.metrics),
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro rosenberg_xray evaluate --archs {params.archs:q} "
        "--predictions {input.predictions:q} --infos {input.infos:q} --manifest {input.manifest:q} "
        "--cases {input.passed:q} --cohort-source {params.cohort:q} --n-boot {params.n_boot:q} "
        "--seed {params.seed:q} --out {params.out:q} > {log:q} 2>&1"


# The verdict per published number (vfrepro.evaluate.verdict; docs/reproduction.md) from the
# tables above (this study's tables.reproduced_long).
rule rosenberg_xray_reproduction:
    input:
        metrics=f"{RX}/metrics.csv",
        cam=expand(f"{RX}/cam_{{arch}}_lesion_summary.csv", arch=RX_CAM_ARCHS),
    output:
        csv=report(f"{RX}/reproduction.csv", caption="../../../report/reproduction.rst", category="rosenberg_xray",
                   subcategory="Reproduction"),
        forest=report(f"{RX}/reproduction_forest.png", caption="../../../report/reproduction_forest.rst",
                      category="rosenberg_xray", subcategory="Reproduction"),
    log:
        "logs/rosenberg_xray/reproduction.log",
    params:
        results=lambda w, output: os.path.dirname(output.csv),
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro reproduction rosenberg_xray --results {params.results:q} --out-csv {output.csv:q} "
        "--out-png {output.forest:q} > {log:q} 2>&1"
