rule qc_montage:
    input:
        images=lambda w: expand("results/preprocess/{case}/image.nii.gz", case=site_cases(w.site)),
        masks=lambda w: expand(
            "results/preprocess/{case}/mask_reader1.nii.gz", case=site_cases(w.site)
        ),
    output:
        report(
            "results/qc/montage_{site}.png",
            caption="../report/qc_montage.rst",
            category="Cohort QC",
            subcategory="{site}",
        ),
    log:
        "logs/qc/montage_{site}.log",
    params:
        cases=lambda w: site_cases(w.site),
        title=lambda w: f"site {w.site}",
        max_cases=config["qc"]["montage_max_cases"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/core.yaml"
    shell:
        "vfrepro montage --images {input.images:q} --masks {input.masks:q} --case-ids {params.cases:q} "
        "--title {params.title:q} --max-cases {params.max_cases:q} --out {output:q} > {log:q} 2>&1"
