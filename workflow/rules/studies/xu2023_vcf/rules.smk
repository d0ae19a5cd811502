# xu2023_vcf: acute / chronic / pathologic VCF on lateral radiograph vertebra crops, ResNet-18
# (Xu et al., Front Endocrinol 2023; seed 002). Development cohort split 8:2 by patient, trained
# with the shared engine (src/vfrepro/deep); the test split, each external site and the
# prospective set evaluated apart: Table 2 layout (published beside reproduced), Table 1, ROC curves
# and normalised confusion matrices per dataset, chosen.csv; the reader study (Table 3, Fig 6)
# when the manifest has readers.
# Constants and input functions: common.smk beside this file. Each rule's config params hold
# only the keys its command reads (the registry's stage_config, src/vfrepro/data/studies.yaml).

rule xu2023_vcf_train:
    input:
        manifest=VALIDATED_MANIFEST,
        passed=lambda w: passed_cases_file(),
        weights=xu_weights,
    output:
        model=f"{XU}/{XU_ARCH}/model.pt",
        predictions=f"{XU}/{XU_ARCH}/predictions.csv",
        epoch_log=f"{XU}/{XU_ARCH}/epoch_log.csv",
        cv_summary=f"{XU}/{XU_ARCH}/cv_summary.csv",
        info=f"{XU}/{XU_ARCH}/train_info.json",
    log:
        "logs/xu2023_vcf/train.log",
    params:
        cfg=xu_params("train"),
        arch=XU_ARCH,
        out=lambda w, output: os.path.dirname(output.info),
    threads: XU_CFG.get("threads", 1)
    resources:
        gpu=1,
        mem_mb=XU_CFG.get("mem_mb", 4000),
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro xu2023_vcf train --arch {params.arch:q} --manifest {input.manifest:q} "
        "--cases {input.passed:q} --config-json {params.cfg} --out {params.out:q} "
        "--threads {threads} > {log:q} 2>&1"


rule xu2023_vcf_evaluate:
    input:
        predictions=f"{XU}/{XU_ARCH}/predictions.csv",
        info=f"{XU}/{XU_ARCH}/train_info.json",
        # Table 1: the cohort's characteristics by dataset
        manifest=VALIDATED_MANIFEST,
        passed=lambda w: passed_cases_file(),
    output:
        table=f"{XU}/table2.csv",
        table1=f"{XU}/table1.csv",
        table1_md=report(f"{XU}/table1.md", caption="../../../report/xu2023_vcf_table1.rst", category="xu2023_vcf"),
        chosen=f"{XU}/chosen.csv",
        md=report(f"{XU}/table2.md", caption="../../../report/xu2023_vcf_table2.rst", category="xu2023_vcf"),
        roc=report(f"{XU}/roc_curves.png", caption="../../../report/xu2023_vcf_roc.rst", category="xu2023_vcf"),
        cm=report(f"{XU}/confusion_matrices.png", caption="../../../report/xu2023_vcf_confusion.rst",
                  category="xu2023_vcf"),
    log:
        "logs/xu2023_vcf/evaluate.log",
    params:
        out=lambda w, output: os.path.dirname(output.table),
        # the registry's stage_config of this rule: seed, n_boot
        n_boot=XU_CFG.get("n_boot", 1000),
        seed=XU_CFG.get("seed", 0),
        # chosen.csv notes a synthetic cohort
        cohort=config["cohort"]["source"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro xu2023_vcf evaluate --predictions {input.predictions:q} "
        "--infos {input.info:q} --manifest {input.manifest:q} --cases {input.passed:q} "
        "--cohort {params.cohort:q} --out {params.out:q} --n-boot {params.n_boot:q} --seed {params.seed:q} "
        "> {log:q} 2>&1"


rule xu2023_vcf_reader_study:
    input:
        manifest=VALIDATED_MANIFEST,
        passed=lambda w: passed_cases_file(),
        predictions=f"{XU}/{XU_ARCH}/predictions.csv",
    output:
        csv=f"{XU}/reader_study.csv",
        md=report(f"{XU}/reader_study.md", caption="../../../report/xu2023_vcf_reader_study.rst",
                  category="xu2023_vcf"),
        png=report(f"{XU}/reader_study.png", caption="../../../report/xu2023_vcf_reader_figure.rst",
                   category="xu2023_vcf"),
    log:
        "logs/xu2023_vcf/reader_study.log",
    params:
        # the registry's stage_config of this rule: seed, n_boot
        n_boot=XU_CFG.get("n_boot", 1000),
        seed=XU_CFG.get("seed", 0),
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/deep.yaml"
    shell:
        "vfrepro xu2023_vcf reader-study --manifest {input.manifest:q} --cases {input.passed:q} "
        "--predictions {input.predictions:q} --out-csv {output.csv:q} --out-md {output.md:q} "
        "--out-png {output.png:q} "
        "--n-boot {params.n_boot:q} --seed {params.seed:q} > {log:q} 2>&1"


# The verdict per published number (vfrepro.evaluate.verdict; docs/reproduction.md) from the
# tables above (this study's tables.reproduced_long).
rule xu2023_vcf_reproduction:
    input:
        table2=f"{XU}/table2.csv",
        table1=f"{XU}/table1.csv",
    output:
        csv=report(f"{XU}/reproduction.csv", caption="../../../report/reproduction.rst", category="xu2023_vcf",
                   subcategory="Reproduction"),
        forest=report(f"{XU}/reproduction_forest.png", caption="../../../report/reproduction_forest.rst",
                      category="xu2023_vcf", subcategory="Reproduction"),
    log:
        "logs/xu2023_vcf/reproduction.log",
    params:
        results=lambda w, output: os.path.dirname(output.csv),
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../../../envs/stats.yaml"
    shell:
        "vfrepro reproduction xu2023_vcf --results {params.results:q} --out-csv {output.csv:q} "
        "--out-png {output.forest:q} > {log:q} 2>&1"
