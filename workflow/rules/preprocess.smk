rule preprocess:
    input:
        image="results/ingest/images/{case}.nii.gz",
        passed="results/ingest/passed_cases.txt",
        mask=lambda w: case_row(w.case)["mask_path"],
    output:
        image="results/preprocess/{case}/image.nii.gz",
        mask="results/preprocess/{case}/mask_reader1.nii.gz",
        summary="results/preprocess/{case}/summary.json",
    log:
        "logs/preprocess/{case}.log",
    params:
        labels=lambda w: case_labels(w.case),
        spacing=" ".join(str(s) for s in config["preprocess"]["spacing"]),
        min_voxels=config["preprocess"]["min_mask_voxels"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/core.yaml"
    shell:
        "vfrepro preprocess --case-id {wildcards.case} --image {input.image} --mask {input.mask} "
        "--labels {params.labels} --spacing {params.spacing} --min-voxels {params.min_voxels} "
        "--out-image {output.image} --out-mask {output.mask} --out-summary {output.summary} "
        "> {log} 2>&1"


rule preprocess_reader2:
    input:
        image="results/ingest/images/{case}.nii.gz",
        reference="results/preprocess/{case}/image.nii.gz",
        mask=lambda w: case_row(w.case)["mask_reader2_path"],
    output:
        mask="results/preprocess/{case}/mask_reader2.nii.gz",
    log:
        "logs/preprocess/{case}.reader2.log",
    params:
        labels=lambda w: case_labels(w.case),
        min_voxels=config["preprocess"]["min_mask_voxels"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/core.yaml"
    shell:
        "vfrepro preprocess --case-id {wildcards.case} --image {input.image} --mask {input.mask} "
        "--labels {params.labels} --min-voxels {params.min_voxels} "
        "--reference {input.reference} --out-mask {output.mask} > {log} 2>&1"
