# Provenance: what each enabled study's results were made with (resolved config and its sha256,
# seeds, package versions, git commit, hardware, weights), next to its tables and in the report.

localrules:
    provenance_config,


rule provenance_config:
    output:
        PROVENANCE_CONFIG,
    log:
        "logs/provenance/config.log",
    params:
        # The config as Snakemake resolved it (config.yaml + --configfile/--config + schema
        # defaults); a change to any key reruns this rule and the provenance records.
        cfg=shlex.quote(json.dumps(config, sort_keys=True, default=str)),
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/core.yaml"
    shell:
        "printf '%s\\n' {params.cfg} > {output:q} 2> {log:q}"


rule provenance:
    input:
        config=PROVENANCE_CONFIG,
        # After the branch's own targets, so that the record is written last and hashes them.
        outputs=lambda w: STUDY_TARGETS[w.study](),
    output:
        json=report("results/{study}/provenance/provenance.json", caption="../report/provenance.rst",
                    category="{study}", subcategory="Provenance"),
        md=report("results/{study}/provenance/provenance.md", caption="../report/provenance.rst",
                  category="{study}", subcategory="Provenance"),
    log:
        "logs/{study}/provenance.log",
    params:
        repo=workflow.basedir,
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/core.yaml"
    shell:
        "vfrepro provenance --config-json {input.config:q} --study {wildcards.study:q} "
        "--repo {params.repo:q} --outputs {input.outputs:q} --out {output.json:q} {output.md:q} > {log:q} 2>&1"
