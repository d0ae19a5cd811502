# wang2024_twostage: Faster R-CNN vertebra detection on sagittal CT slices, then multi-label
# diagnosis (OVCF, OF, SN, KD, PS, normal) of jittered vertebra patches with a ResNet50
# (Wang et al., QIMS 2024; seed 003). Slices, boxes and labels from the preprocessed CT, label
# map and lesion map; each detector backbone and the classifier trained with the shared engine
# (src/vfrepro/deep) on the training split only; internal test and external site ("alternative
# hospital") evaluated apart. Constants and input functions: common.smk beside this file. Each
# rule's config params hold only the keys its command reads (the registry's stage_config).

rule wang2024_twostage_slices:
    input:
        manifest=VALIDATED_MANIFEST,
        passed=lambda w: passed_cases_file(),
        preprocessed=wang_preprocessed,
    output:
        slices=f"{WANG}/slices/slices.npz",
        table=f"{WANG}/slices/slices.csv",
        table1=report(f"{WANG}/table1.csv", caption="../../../report/wang2024_twostage_tables.rst",
                      category="wang2024_twostage"),
        tests=report(f"{WANG}/table1_tests.csv", caption="../../../report/wang2024_twostage_tables.rst",
                     category="wang2024_twostage"),
        table2=report(f"{WANG}/table2.csv", caption="../../../report/wang2024_twostage_tables.rst",
                      category="wang2024_twostage"),
        md=report(f"{WANG}/tables.md", caption="../../../report/wang2024_twostage_tables.rst",
                  category="wang2024_twostage"),
    log:
        "logs/wang2024_twostage/slices.log",
    params:
        cfg=wang_params("slices"),
        out=lambda w, output: os.path.dirname(output.table1),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro wang2024_twostage slices --manifest {input.manifest:q} --cases {input.passed:q} "
        "--preprocess-dir results/preprocess --cfg {params.cfg} --out {params.out:q} > {log:q} 2>&1"


rule wang2024_twostage_detect:
    input:
        slices=f"{WANG}/slices/slices.npz",
        weights=wang_detector_weights,
    output:
        model=f"{WANG}/detect/{{backbone}}/model.pt",
        detections=f"{WANG}/detect/{{backbone}}/detections.csv",
        epoch_log=f"{WANG}/detect/{{backbone}}/epoch_log.csv",
        info=f"{WANG}/detect/{{backbone}}/info.json",
    log:
        "logs/wang2024_twostage/detect_{backbone}.log",
    params:
        cfg=wang_detect_params,
        out=lambda w, output: os.path.dirname(output.info),
    threads: WANG_CFG.get("threads", 1)
    resources:
        gpu=1,
        mem_mb=WANG_CFG.get("mem_mb", 3000),
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro wang2024_twostage detect --slices {input.slices:q} --backbone {wildcards.backbone:q} "
        "--cfg {params.cfg} --out {params.out:q} --threads {threads} > {log:q} 2>&1"


rule wang2024_twostage_detection_eval:
    input:
        slices=f"{WANG}/slices/slices.npz",
        detections=expand(f"{WANG}/detect/{{backbone}}/detections.csv", backbone=WANG_BACKBONES),
    output:
        table=f"{WANG}/detection_table.csv",
        md=report(f"{WANG}/detection_table.md", caption="../../../report/wang2024_twostage_detection.rst",
                  category="wang2024_twostage"),
        per_image=f"{WANG}/per_image.csv",
        curves=f"{WANG}/pr_curves.csv",
        pr=report(f"{WANG}/pr_curves.png", caption="../../../report/wang2024_twostage_detection.rst",
                  category="wang2024_twostage"),
        counts=report(f"{WANG}/counts.png", caption="../../../report/wang2024_twostage_detection.rst",
                      category="wang2024_twostage"),
        hist=report(f"{WANG}/error_histograms.png", caption="../../../report/wang2024_twostage_detection.rst",
                    category="wang2024_twostage"),
    log:
        "logs/wang2024_twostage/detection_eval.log",
    params:
        cfg=wang_params("detection_eval"),
        out=lambda w, output: os.path.dirname(output.table),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro wang2024_twostage detection-eval --slices {input.slices:q} --detections {input.detections:q} "
        "--cfg {params.cfg} --out {params.out:q} > {log:q} 2>&1"


rule wang2024_twostage_classify:
    input:
        slices=f"{WANG}/slices/slices.npz",
        detections=f"{WANG}/detect/{WANG_DETECTOR}/detections.csv",
        weights=wang_classifier_weights,
    output:
        model=f"{WANG}/classify/model.pt",
        predictions=f"{WANG}/classify/predictions.csv",
        automatic=f"{WANG}/classify/predictions_automatic.csv",
        epoch_log=f"{WANG}/classify/epoch_log.csv",
        info=f"{WANG}/classify/info.json",
    log:
        "logs/wang2024_twostage/classify.log",
    params:
        cfg=wang_params("classify"),
        detector=WANG_DETECTOR,
        out=lambda w, output: os.path.dirname(output.info),
    threads: WANG_CFG.get("threads", 1)
    resources:
        gpu=1,
        mem_mb=WANG_CFG.get("mem_mb", 3000),
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro wang2024_twostage classify --slices {input.slices:q} --detections {input.detections:q} "
        "--detector-name {params.detector:q} --cfg {params.cfg} --out {params.out:q} --threads {threads} "
        "> {log:q} 2>&1"


rule wang2024_twostage_evaluate:
    input:
        predictions=f"{WANG}/classify/predictions.csv",
        automatic=f"{WANG}/classify/predictions_automatic.csv",
        info=f"{WANG}/classify/info.json",
        slices=f"{WANG}/slices/slices.npz",
        detections=f"{WANG}/detect/{WANG_DETECTOR}/detections.csv",
    output:
        table=f"{WANG}/table3.csv",
        md=report(f"{WANG}/table3.md", caption="../../../report/wang2024_twostage_table3.rst",
                  category="wang2024_twostage"),
        automatic=report(f"{WANG}/table3_automatic.csv", caption="../../../report/wang2024_twostage_table3.rst",
                         category="wang2024_twostage"),
        roc=report(f"{WANG}/roc_curves.png", caption="../../../report/wang2024_twostage_roc.rst",
                   category="wang2024_twostage"),
        cm_training=report(f"{WANG}/confusion_training.png", caption="../../../report/wang2024_twostage_confusion.rst",
                           category="wang2024_twostage"),
        cm_test=report(f"{WANG}/confusion_test.png", caption="../../../report/wang2024_twostage_confusion.rst",
                       category="wang2024_twostage"),
        cm_alternative=report(f"{WANG}/confusion_alternative_hospital.png",
                              caption="../../../report/wang2024_twostage_confusion.rst", category="wang2024_twostage"),
        examples=report(f"{WANG}/examples.png", caption="../../../report/wang2024_twostage_examples.rst",
                        category="wang2024_twostage"),
        chosen=f"{WANG}/chosen.csv",
    log:
        "logs/wang2024_twostage/evaluate.log",
    params:
        cfg=wang_params("evaluate"),
        out=lambda w, output: os.path.dirname(output.table),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro wang2024_twostage evaluate --predictions {input.predictions:q} "
        "--predictions-automatic {input.automatic:q} --info {input.info:q} --slices {input.slices:q} "
        "--detections {input.detections:q} --cfg {params.cfg} --out {params.out:q} > {log:q} 2>&1"


# The verdict per published number (vfrepro.evaluate.verdict; docs/reproduction.md) from the
# tables above (this study's tables.reproduced_long).
rule wang2024_twostage_reproduction:
    input:
        table1=f"{WANG}/table1.csv",
        tests=f"{WANG}/table1_tests.csv",
        table2=f"{WANG}/table2.csv",
        detection=f"{WANG}/detection_table.csv",
        table3=f"{WANG}/table3.csv",
    output:
        csv=report(f"{WANG}/reproduction.csv", caption="../../../report/reproduction.rst",
                   category="wang2024_twostage", subcategory="Reproduction"),
        forest=report(f"{WANG}/reproduction_forest.png", caption="../../../report/reproduction_forest.rst",
                      category="wang2024_twostage", subcategory="Reproduction"),
    log:
        "logs/wang2024_twostage/reproduction.log",
    params:
        results=lambda w, output: os.path.dirname(output.csv),
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro reproduction wang2024_twostage --results {params.results:q} --out-csv {output.csv:q} "
        "--out-png {output.forest:q} > {log:q} 2>&1"
