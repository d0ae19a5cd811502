rule synth:
    output:
        manifest=f"{SYNTH['out']}/manifest.csv",
    log:
        "logs/cohort/synth.log",
    params:
        out=lambda w, output: os.path.dirname(output.manifest),
        n=SYNTH["n_patients"],
        seed=SYNTH["seed"],
        sites=SYNTH["sites"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/core.yaml"
    shell:
        "vfrepro synth --out {params.out:q} --n-patients {params.n:q} --seed {params.seed:q} "
        "--sites {params.sites:q} > {log:q} 2>&1"


rule validate_manifest:
    input:
        raw_manifest(),
    output:
        VALIDATED_MANIFEST,
    log:
        "logs/cohort/validate_manifest.log",
    params:
        studies=",".join(enabled_studies()),
        required=",".join(REQUIRED_STUDIES),
        study_config=manifest_check_params(),
        real="--real-cohort" if config["cohort"]["source"] == "manifest" else "",
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/core.yaml"
    shell:
        "vfrepro validate-manifest --manifest {input:q} --out {output:q} "
        # --opt=value: an empty list (a CT-only cohort skips every study) stays one word
        "--studies={params.studies:q} --required={params.required:q} "
        "--study-config {params.study_config} {params.real:q} > {log:q} 2>&1"
