# The reviewer summary of every study's verdicts (vfrepro reproduction-report). A study joins
# it when its registry stage_config has a `reproduction` entry (rule <study>_reproduction in its
# rule file); docs/reproduction.md. Its input functions: workflow/rules/common.smk.

rule reproduction_report:
    input:
        csv=lambda w: expand("results/{study}/reproduction.csv", study=reproduction_studies()),
    output:
        md=report(REPRODUCTION_REPORT, caption="../report/reproduction_report.rst", category="Reproduction"),
    log:
        "logs/reproduction_report.log",
    params:
        studies=lambda w: reproduction_studies(),
        cohort=config["cohort"]["source"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/stats.yaml"
    shell:
        "vfrepro reproduction-report --studies {params.studies:q} --cohort {params.cohort:q} "
        "--results results --out {output.md:q} > {log:q} 2>&1"
