# qu2025_mil: gated-attention MIL on 5 axial (S) and 5 coronal (Z) slices per vertebra, AO Spine
# A0-A4 / AZ (Qu et al., Health Informatics Journal 2025; seed 000). Bags cut from the
# preprocessed CT (instance labels from the lesion map), one model per view trained with the
# shared engine (src/vfrepro/deep) on the training bags, the paper's ensemble (Z, S where Z says
# AZ), metrics published beside reproduced, attention vs planted instance labels, Grad-CAM and
# the optional reader study. Constants and input functions: common.smk beside this file. Each
# rule's config params hold only the keys its command reads (the registry's stage_config).

rule qu2025_mil_bags:
    input:
        manifest=VALIDATED_MANIFEST,
        passed=lambda w: passed_cases_file(),
        images=qu_preprocessed,
        lesions=qu_lesion_maps,
    output:
        bags=f"{QU}/bags.npz",
        table=f"{QU}/bags.csv",
    log:
        "logs/qu2025_mil/bags.log",
    params:
        cfg=qu_params("bags"),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro qu2025_mil bags --manifest {input.manifest:q} --cases {input.passed:q} "
        "--preprocess-dir results/preprocess --cfg {params.cfg} --out {output.bags:q} "
        "--table {output.table:q} > {log:q} 2>&1"


rule qu2025_mil_train:
    input:
        bags=f"{QU}/bags.npz",
        weights=qu_weights,
    output:
        model=f"{QU}/{{view}}/model.pt",
        predictions=f"{QU}/{{view}}/predictions.csv",
        slices=f"{QU}/{{view}}/slices.csv",
        epoch_log=f"{QU}/{{view}}/epoch_log.csv",
        info=f"{QU}/{{view}}/train_info.json",
    log:
        "logs/qu2025_mil/train_{view}.log",
    params:
        cfg=qu_params("train"),
        out=lambda w, output: os.path.dirname(output.info),
    threads: QU_CFG.get("threads", 1)
    resources:
        gpu=1,
        mem_mb=QU_CFG.get("mem_mb", 4000),
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro qu2025_mil train --view {wildcards.view:q} --bags {input.bags:q} --cfg {params.cfg} "
        "--out {params.out:q} --threads {threads} --no-progress > {log:q} 2>&1"


rule qu2025_mil_evaluate:
    input:
        predictions=expand(f"{QU}/{{view}}/predictions.csv", view=QU_VIEWS),
        slices=expand(f"{QU}/{{view}}/slices.csv", view=QU_VIEWS),
        infos=expand(f"{QU}/{{view}}/train_info.json", view=QU_VIEWS),
        table=f"{QU}/bags.csv",
    output:
        accuracy=f"{QU}/accuracy.csv",
        per_class=f"{QU}/per_class.csv",
        confusion=f"{QU}/confusion.csv",
        cm=report(f"{QU}/confusion_matrices.png", caption="../../../report/qu2025_mil_confusion.rst",
                  category="qu2025_mil"),
        per_class_png=report(f"{QU}/per_class_accuracy.png", caption="../../../report/qu2025_mil_per_class.rst",
                             category="qu2025_mil"),
        distribution=f"{QU}/label_distribution.csv",
        distribution_png=report(f"{QU}/label_distribution.png",
                                caption="../../../report/qu2025_mil_distribution.rst", category="qu2025_mil"),
        attention=f"{QU}/attention.csv",
        instance_auc=f"{QU}/instance_auc.csv",
        ensemble=f"{QU}/predictions_ensemble.csv",
        summary=report(f"{QU}/summary.md", caption="../../../report/qu2025_mil_summary.rst", category="qu2025_mil"),
        chosen=f"{QU}/chosen.csv",
    log:
        "logs/qu2025_mil/evaluate.log",
    params:
        cfg=qu_params("evaluate"),
        out=lambda w, output: os.path.dirname(output.summary),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro qu2025_mil evaluate --predictions {input.predictions:q} --slices {input.slices:q} "
        "--infos {input.infos:q} --bag-table {input.table:q} --cfg {params.cfg} --out {params.out:q} > {log:q} 2>&1"


rule qu2025_mil_gradcam:
    input:
        bags=f"{QU}/bags.npz",
        predictions=expand(f"{QU}/{{view}}/predictions.csv", view=QU_VIEWS),
        models=expand(f"{QU}/{{view}}/model.pt", view=QU_VIEWS),
        weights=qu_weights,
    output:
        table=f"{QU}/gradcam.csv",
        figures=[report(f"{QU}/gradcam_{v}.png", caption="../../../report/qu2025_mil_gradcam.rst",
                        category="qu2025_mil") for v in QU_VIEWS],
    log:
        "logs/qu2025_mil/gradcam.log",
    params:
        cfg=qu_params("gradcam"),
        out=lambda w, output: os.path.dirname(output.table),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro qu2025_mil gradcam --bags {input.bags:q} --predictions {input.predictions:q} "
        "--models {input.models:q} --cfg {params.cfg} --out {params.out:q} > {log:q} 2>&1"


rule qu2025_mil_reader_study:
    input:
        manifest=VALIDATED_MANIFEST,
        passed=lambda w: passed_cases_file(),
    output:
        csv=f"{QU}/reader_study.csv",
        md=report(f"{QU}/reader_study.md", caption="../../../report/qu2025_mil_reader_study.rst",
                  category="qu2025_mil"),
    log:
        "logs/qu2025_mil/reader_study.log",
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro qu2025_mil reader-study --manifest {input.manifest:q} --cases {input.passed:q} "
        "--out-csv {output.csv:q} --out-md {output.md:q} > {log:q} 2>&1"


# The verdict per published number (vfrepro.evaluate.verdict; docs/reproduction.md) from the
# tables above (this study's tables.reproduced_long).
rule qu2025_mil_reproduction:
    input:
        accuracy=f"{QU}/accuracy.csv",
        per_class=f"{QU}/per_class.csv",
    output:
        csv=report(f"{QU}/reproduction.csv", caption="../../../report/reproduction.rst", category="qu2025_mil",
                   subcategory="Reproduction"),
        forest=report(f"{QU}/reproduction_forest.png", caption="../../../report/reproduction_forest.rst",
                      category="qu2025_mil", subcategory="Reproduction"),
    log:
        "logs/qu2025_mil/reproduction.log",
    params:
        results=lambda w, output: os.path.dirname(output.csv),
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro reproduction qu2025_mil --results {params.results:q} --out-csv {output.csv:q} "
        "--out-png {output.forest:q} > {log:q} 2>&1"
