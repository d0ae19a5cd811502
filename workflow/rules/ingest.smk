rule ingest:
    input:
        VALIDATED_MANIFEST,
    output:
        qc="results/ingest/qc.csv",
        images=directory("results/ingest/images"),
    log:
        "logs/ingest/ingest.log",
    params:
        out=lambda w, output: os.path.dirname(output.qc),
        tilt="" if config["ingest"]["correct_tilt"] else "--no-tilt-correction",
        max_tilt=config["ingest"]["max_tilt_deg"],
        tol=config["ingest"]["spacing_tolerance"],
        min_slices=config["ingest"]["min_slices"],
        modality=config["ingest"]["modality"],
    threads: 4
    resources:
        mem_mb=4000,
    conda:
        "../../envs/core.yaml"
    shell:
        # Always writes qc.csv; the policy on failed cases is the gate's.
        "vfrepro ingest --manifest {input:q} --out {params.out:q} --exclude-failed "
        "--threads {threads} {params.tilt:q} --max-tilt-deg {params.max_tilt:q} "
        "--spacing-tolerance {params.tol:q} --min-slices {params.min_slices:q} "
        "--modality {params.modality:q} > {log:q} 2>&1"


checkpoint ingest_gate:
    input:
        qc="results/ingest/qc.csv",
    output:
        cases="results/ingest/passed_cases.txt",
    log:
        "logs/ingest/ingest_gate.log",
    params:
        exclude="--exclude-failed" if config["ingest"]["exclude_failed"] else "",
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/core.yaml"
    shell:
        "vfrepro ingest-gate --qc {input.qc:q} --out {output.cases:q} {params.exclude:q} > {log:q} 2>&1"
