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
        spacing=[str(s) for s in config["preprocess"]["spacing"]],
        min_voxels=config["preprocess"]["min_mask_voxels"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/core.yaml"
    shell:
        "vfrepro preprocess --case-id {wildcards.case:q} --image {input.image:q} --mask {input.mask:q} "
        "--labels {params.labels:q} --spacing {params.spacing:q} --min-voxels {params.min_voxels:q} "
        "--out-image {output.image:q} --out-mask {output.mask:q} --out-summary {output.summary:q} "
        "> {log:q} 2>&1"


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
        "vfrepro preprocess --case-id {wildcards.case:q} --image {input.image:q} --mask {input.mask:q} "
        "--labels {params.labels:q} --min-voxels {params.min_voxels:q} "
        "--reference {input.reference:q} --out-mask {output.mask:q} > {log:q} 2>&1"
