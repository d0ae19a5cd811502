# liu2025_dlr: deep-learning radiomics, ASTLOF 3-class (Liu et al., JMIR Med Inform 2025).
# DICOM -> preprocess (shared) -> radiomics per case -> ComBat -> selection; ResNet50 deep
# features per backbone -> fusion -> classifier zoo -> evaluation, SHAP, nomogram -> Table 3.
# Everything fitted is fitted on split == train only (see src/vfrepro/studies/liu2025_dlr/).
# Constants and input functions: common.smk beside this file. Each rule's config param holds only
# the keys its command reads (the registry's stage_config, src/vfrepro/data/studies.yaml).

rule liu2025_dlr_cohort:
    input:
        manifest=VALIDATED_MANIFEST,
        passed="results/ingest/passed_cases.txt",
        # cohort.csv names the preprocessed files of the study's vertebrae (the later stages read them)
        preprocessed=liu_preprocessed,
    output:
        f"{LIU}/cohort.csv",
    log:
        "logs/liu2025_dlr/cohort.log",
    params:
        cfg=liu_params("cohort"),
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro liu2025_dlr cohort --cfg {params.cfg} --manifest {input.manifest:q} --passed {input.passed:q} "
        "--preprocess-dir results/preprocess --out {output:q} > {log:q} 2>&1"


rule liu2025_dlr_radiomics:
    input:
        image="results/preprocess/{case}/image.nii.gz",
        mask="results/preprocess/{case}/mask_reader{reader}.nii.gz",
        params_file=lambda w: LIU_CFG["radiomics"]["params"] or [],
    output:
        f"{LIU}/radiomics/{{case}}_reader{{reader}}.csv",
    log:
        "logs/liu2025_dlr/radiomics/{case}_reader{reader}.log",
    params:
        # the registry's stage_config of this rule: vertebrae (via the labels), radiomics.*
        labels=lambda w: case_labels(w.case, liu_index()),
        params_file=liu_radiomics_params_file,
        bin_width=LIU_CFG["radiomics"]["bin_width"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/radiomics.yaml"
    shell:
        "vfrepro radiomics --case-id {wildcards.case:q} --image {input.image:q} --mask {input.mask:q} "
        "--labels {params.labels:q} --reader {wildcards.reader:q} {params.params_file} "
        "--bin-width {params.bin_width:q} --out {output:q} > {log:q} 2>&1"


rule liu2025_dlr_merge_radiomics:
    input:
        cohort=f"{LIU}/cohort.csv",
        files=liu_radiomics_files,
    output:
        reader1=f"{LIU}/radiomics/reader1.csv",
        reader2=f"{LIU}/radiomics/reader2.csv",
        errors=f"{LIU}/radiomics/errors.csv",
    log:
        "logs/liu2025_dlr/merge_radiomics.log",
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro liu2025_dlr merge --cohort {input.cohort:q} --inputs {input.files:q} --out-reader1 {output.reader1:q} "
        "--out-reader2 {output.reader2:q} --out-errors {output.errors:q} > {log:q} 2>&1"


rule liu2025_dlr_combat:
    input:
        cohort=f"{LIU}/cohort.csv",
        features=f"{LIU}/radiomics/reader1.csv",
    output:
        harmonised=f"{LIU}/radiomics/harmonised.csv",
        model=f"{LIU}/radiomics/combat.json",
        info=f"{LIU}/radiomics/combat_info.json",
    log:
        "logs/liu2025_dlr/combat.log",
    params:
        cfg=liu_params("combat"),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro liu2025_dlr combat --cfg {params.cfg} --cohort {input.cohort:q} --features {input.features:q} "
        "--out {output.harmonised:q} --model {output.model:q} --info {output.info:q} > {log:q} 2>&1"


rule liu2025_dlr_select_radiomics:
    input:
        cohort=f"{LIU}/cohort.csv",
        harmonised=f"{LIU}/radiomics/harmonised.csv",
        reader1=f"{LIU}/radiomics/reader1.csv",
        reader2=f"{LIU}/radiomics/reader2.csv",
    output:
        selected=f"{LIU}/selection/selected_radiomics.json",
        icc=f"{LIU}/selection/step1_icc.csv",
        spearman=f"{LIU}/selection/step2_spearman_kept.csv",
        lasso=f"{LIU}/selection/step3_lasso_kept.csv",
        corr=f"{LIU}/selection/step4_corr_kept.csv",
    log:
        "logs/liu2025_dlr/select_radiomics.log",
    params:
        cfg=liu_params("select_radiomics"),
        outdir=lambda w, output: os.path.dirname(output.selected),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro liu2025_dlr select --cfg {params.cfg} --cohort {input.cohort:q} --harmonised {input.harmonised:q} "
        "--reader1 {input.reader1:q} --reader2 {input.reader2:q} --outdir {params.outdir:q} > {log:q} 2>&1"


rule liu2025_dlr_deep_features:
    input:
        cohort=f"{LIU}/cohort.csv",
        images=lambda w: expand("results/preprocess/{case}/image.nii.gz", case=liu_cases()),
        masks=lambda w: expand("results/preprocess/{case}/mask_reader1.nii.gz", case=liu_cases()),
        weights=lambda w: [p for p in [LIU_CFG["weights"][w.backbone]] if p and LIU_CFG["weights"]["init"] == "pretrained"],
    output:
        features=f"{LIU}/deep/{{backbone}}_features.csv",
        meta=f"{LIU}/deep/{{backbone}}_meta.json",
    log:
        "logs/liu2025_dlr/deep_{backbone}.log",
    params:
        cfg=lambda w: liu_params("deep_features", weights=["init", w.backbone]),
    threads: 2
    resources:
        mem_mb=8000,
        gpu=1,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro liu2025_dlr deep --cfg {params.cfg} --cohort {input.cohort:q} --backbone {wildcards.backbone:q} "
        "--threads {threads} --out {output.features:q} --meta {output.meta:q} > {log:q} 2>&1"


rule liu2025_dlr_fuse:
    input:
        cohort=f"{LIU}/cohort.csv",
        harmonised=f"{LIU}/radiomics/harmonised.csv",
        selected=f"{LIU}/selection/selected_radiomics.json",
        dtl=f"{LIU}/deep/{{backbone}}_features.csv",
    output:
        fused=f"{LIU}/{{backbone}}/fused.csv",
        model=f"{LIU}/{{backbone}}/fusion.joblib",
        summary=f"{LIU}/{{backbone}}/fusion.json",
        lasso_path=f"{LIU}/{{backbone}}/lasso_path.csv",
        lasso_cv=f"{LIU}/{{backbone}}/lasso_cv.csv",
        radscore_coef=f"{LIU}/{{backbone}}/radscore_coefficients.csv",
        path_png=report(f"{LIU}/{{backbone}}/lasso_path.png", caption="../../../report/liu2025_dlr_lasso.rst",
                        category="liu2025_dlr", subcategory="Feature selection"),
        importance_png=report(f"{LIU}/{{backbone}}/lasso_importance.png", caption="../../../report/liu2025_dlr_lasso.rst",
                              category="liu2025_dlr", subcategory="Feature selection"),
        radscore_png=report(f"{LIU}/{{backbone}}/radscore_coefficients.png",
                            caption="../../../report/liu2025_dlr_lasso.rst", category="liu2025_dlr",
                            subcategory="Feature selection"),
    log:
        "logs/liu2025_dlr/fuse_{backbone}.log",
    params:
        cfg=liu_params("fuse"),
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro liu2025_dlr fuse --cfg {params.cfg} --cohort {input.cohort:q} --harmonised {input.harmonised:q} "
        "--selected {input.selected:q} --dtl {input.dtl:q} --out {output.fused:q} --model {output.model:q} "
        "--summary {output.summary:q} --backbone {wildcards.backbone:q} --lasso-path {output.lasso_path:q} "
        "--lasso-cv {output.lasso_cv:q} --radscore-coef {output.radscore_coef:q} --path-png {output.path_png:q} "
        "--importance-png {output.importance_png:q} --radscore-png {output.radscore_png:q} > {log:q} 2>&1"


rule liu2025_dlr_classify:
    input:
        fused=f"{LIU}/{{backbone}}/fused.csv",
    output:
        models=f"{LIU}/{{backbone}}/models.joblib",
        cv=f"{LIU}/{{backbone}}/cv_results.csv",
        predictions=f"{LIU}/{{backbone}}/predictions.csv",
        # out-of-fold training predictions of the winner (same folds): per-class thresholds are fitted on them
        oof=f"{LIU}/{{backbone}}/oof_predictions.csv",
    log:
        "logs/liu2025_dlr/classify_{backbone}.log",
    params:
        cfg=liu_params("classify"),
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro liu2025_dlr classify --cfg {params.cfg} --fused {input.fused:q} --threads {threads} "
        "--models {output.models:q} --cv {output.cv:q} --predictions {output.predictions:q} --oof {output.oof:q} "
        "> {log:q} 2>&1"


rule liu2025_dlr_evaluate:
    input:
        radimagenet=f"{LIU}/radimagenet/predictions.csv",
        imagenet=f"{LIU}/imagenet/predictions.csv",
    output:
        metrics=f"{LIU}/metrics.csv",
        delong=report(f"{LIU}/delong.csv", caption="../../../report/liu2025_dlr_delong.rst", category="liu2025_dlr"),
        macro=report(f"{LIU}/macro_auc_comparison.csv", caption="../../../report/liu2025_dlr_macro_auc.rst",
                     category="liu2025_dlr"),
        roc_radimagenet=report(f"{LIU}/roc_radimagenet.png", caption="../../../report/liu2025_dlr_roc.rst",
                               category="liu2025_dlr", subcategory="ROC"),
        roc_imagenet=report(f"{LIU}/roc_imagenet.png", caption="../../../report/liu2025_dlr_roc.rst",
                            category="liu2025_dlr", subcategory="ROC"),
    log:
        "logs/liu2025_dlr/evaluate.log",
    params:
        cfg=liu_params("evaluate"),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro liu2025_dlr evaluate --cfg {params.cfg} --pred-radimagenet {input.radimagenet:q} "
        "--pred-imagenet {input.imagenet:q} --metrics {output.metrics:q} --delong {output.delong:q} "
        "--macro-comparison {output.macro:q} "
        "--roc-radimagenet {output.roc_radimagenet:q} --roc-imagenet {output.roc_imagenet:q} > {log:q} 2>&1"


rule liu2025_dlr_shap:
    input:
        models=f"{LIU}/{{backbone}}/models.joblib",
        fused=f"{LIU}/{{backbone}}/fused.csv",
    output:
        table=f"{LIU}/shap/{{backbone}}_mean_abs_shap.csv",
        bar=report(expand(f"{LIU}/shap/{{{{backbone}}}}_bar_class{{k}}.png", k=[0, 1, 2]),
                   caption="../../../report/liu2025_dlr_shap.rst", category="liu2025_dlr", subcategory="SHAP"),
        beeswarm=report(expand(f"{LIU}/shap/{{{{backbone}}}}_beeswarm_class{{k}}.png", k=[0, 1, 2]),
                        caption="../../../report/liu2025_dlr_shap.rst", category="liu2025_dlr", subcategory="SHAP"),
        decision=report(expand(f"{LIU}/shap/{{{{backbone}}}}_decision_class{{k}}.png", k=[0, 1, 2]),
                        caption="../../../report/liu2025_dlr_shap.rst", category="liu2025_dlr", subcategory="SHAP"),
        bar_stacked=report(f"{LIU}/shap/{{backbone}}_bar_stacked.png", caption="../../../report/liu2025_dlr_shap.rst",
                           category="liu2025_dlr", subcategory="SHAP"),
        prospective_decision=report(expand(f"{LIU}/shap/{{{{backbone}}}}_prospective_decision_class{{k}}.png",
                                           k=[0, 1, 2]), caption="../../../report/liu2025_dlr_shap.rst",
                                    category="liu2025_dlr", subcategory="SHAP"),
        prospective_table=f"{LIU}/shap/{{backbone}}_prospective_cases.csv",
    log:
        "logs/liu2025_dlr/shap_{backbone}.log",
    params:
        cfg=liu_params("shap"),
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro liu2025_dlr shap --cfg {params.cfg} --backbone {wildcards.backbone:q} --models {input.models:q} "
        "--fused {input.fused:q} --table {output.table:q} --bar {output.bar:q} --beeswarm {output.beeswarm:q} "
        "--decision {output.decision:q} --bar-stacked {output.bar_stacked:q} "
        "--prospective-decision {output.prospective_decision:q} --prospective-table {output.prospective_table:q} "
        "> {log:q} 2>&1"


rule liu2025_dlr_nomogram:
    input:
        # The combined model uses the RadImageNet fused model's Radscore (the paper's best).
        fused=f"{LIU}/radimagenet/fused.csv",
        cohort=f"{LIU}/cohort.csv",
    output:
        summary=f"{LIU}/combined_model.json",
        predictions=f"{LIU}/combined_predictions.csv",
        nomogram=report(f"{LIU}/nomogram.png", caption="../../../report/liu2025_dlr_nomogram.rst",
                        category="liu2025_dlr", subcategory="Combined model"),
        calibration=report(f"{LIU}/calibration.png", caption="../../../report/liu2025_dlr_calibration.rst",
                           category="liu2025_dlr", subcategory="Combined model"),
    log:
        "logs/liu2025_dlr/nomogram.log",
    params:
        cfg=liu_params("nomogram"),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro liu2025_dlr nomogram --cfg {params.cfg} --fused {input.fused:q} --cohort {input.cohort:q} "
        "--summary {output.summary:q} --nomogram {output.nomogram:q} --calibration {output.calibration:q} "
        "--predictions {output.predictions:q} > {log:q} 2>&1"


rule liu2025_dlr_table1:
    input:
        cohort=f"{LIU}/cohort.csv",
    output:
        csv=report(f"{LIU}/table1.csv", caption="../../../report/liu2025_dlr_table1.rst", category="liu2025_dlr",
                   subcategory="Table 1"),
        md=f"{LIU}/table1.md",
    log:
        "logs/liu2025_dlr/table1.log",
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro liu2025_dlr table1 --cohort {input.cohort:q} --csv {output.csv:q} --md {output.md:q} > {log:q} 2>&1"


rule liu2025_dlr_table3:
    input:
        metrics=f"{LIU}/metrics.csv",
        meta=expand(f"{LIU}/deep/{{b}}_meta.json", b=LIU_BACKBONES),
        # per-class Youden thresholds: fitted on the out-of-fold training scores, applied to predictions
        predictions=expand(f"{LIU}/{{b}}/predictions.csv", b=LIU_BACKBONES),
        oof=expand(f"{LIU}/{{b}}/oof_predictions.csv", b=LIU_BACKBONES),
        fusion=expand(f"{LIU}/{{b}}/fusion.json", b=LIU_BACKBONES),
    output:
        csv=report(f"{LIU}/table3.csv", caption="../../../report/liu2025_dlr_table3.rst", category="liu2025_dlr",
                   subcategory="Table 3"),
        md=f"{LIU}/table3.md",
        tex=f"{LIU}/table3.tex",
        thresholds=f"{LIU}/per_class_thresholds.csv",
        chosen=f"{LIU}/chosen.csv",
    log:
        "logs/liu2025_dlr/table3.log",
    params:
        cfg=liu_params("table3"),
        cohort_source=config["cohort"]["source"],
        predictions=lambda w, input: [f"{b}={p}" for b, p in zip(LIU_BACKBONES, input.predictions)],
        oof=lambda w, input: [f"{b}={p}" for b, p in zip(LIU_BACKBONES, input.oof)],
        fusion=lambda w, input: [f"{b}={p}" for b, p in zip(LIU_BACKBONES, input.fusion)],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro liu2025_dlr table3 --cfg {params.cfg} --metrics {input.metrics:q} --deep-meta {input.meta:q} "
        "--predictions {params.predictions:q} --oof {params.oof:q} --fusion {params.fusion:q} "
        "--cohort-source {params.cohort_source:q} --csv {output.csv:q} --md {output.md:q} --tex {output.tex:q} "
        "--thresholds {output.thresholds:q} --chosen {output.chosen:q} > {log:q} 2>&1"


# The verdict per published number (vfrepro.evaluate.verdict; docs/reproduction.md) from the
# tables above (this study's tables.reproduced_long).
rule liu2025_dlr_reproduction:
    input:
        metrics=f"{LIU}/metrics.csv",
        # the fusion LASSO's feature counts and lambda beside the published ones
        fusion=expand(f"{LIU}/{{b}}/fusion.json", b=LIU_BACKBONES),
    output:
        csv=report(f"{LIU}/reproduction.csv", caption="../../../report/reproduction.rst", category="liu2025_dlr",
                   subcategory="Reproduction"),
        forest=report(f"{LIU}/reproduction_forest.png", caption="../../../report/reproduction_forest.rst",
                      category="liu2025_dlr", subcategory="Reproduction"),
    log:
        "logs/liu2025_dlr/reproduction.log",
    params:
        results=lambda w, output: os.path.dirname(output.csv),
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro reproduction liu2025_dlr --results {params.results:q} --out-csv {output.csv:q} "
        "--out-png {output.forest:q} > {log:q} 2>&1"
