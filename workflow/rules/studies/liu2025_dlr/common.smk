# liu2025_dlr: constants and input functions of rules.smk beside this file.

LIU = "results/liu2025_dlr"
LIU_CFG = config.get("liu2025_dlr", {})
LIU_BACKBONES = ["radimagenet", "imagenet"]


wildcard_constraints:
    backbone="|".join(LIU_BACKBONES),
    reader="[12]",


def liu_params(stage, **pick):
    return stage_params("liu2025_dlr", stage, pick)


def liu_index():
    """The CohortIndex of the passed-ingest vertebrae that liu2025_dlr analyses (its
    `vertebrae` setting)."""
    try:  # the light submodule (no torch) when the package has one
        from vfrepro.studies.liu2025_dlr.cohort import select_vertebrae
    except ImportError:
        from vfrepro.studies.liu2025_dlr import select_vertebrae

    def build():
        return CohortIndex(select_vertebrae(vertebrae(), LIU_CFG.get("vertebrae", "fractured")))

    return cached("liu_index", [VALIDATED_MANIFEST, passed_cases_file()], build)


def liu_cases(wildcards=None):
    return liu_index().cases


def liu_preprocessed(wildcards):
    """The preprocessed images and masks of the study's cases: cohort.csv names them and the
    deep-feature stage reads them."""
    index = liu_index()
    files = expand("results/preprocess/{case}/{f}.nii.gz", case=index.cases, f=["image", "mask_reader1"])
    files += expand("results/preprocess/{case}/mask_reader2.nii.gz", case=index.reader2)
    return files


def liu_radiomics_files(wildcards):
    index = liu_index()
    files = expand(f"{LIU}/radiomics/{{case}}_reader1.csv", case=index.cases)
    files += expand(f"{LIU}/radiomics/{{case}}_reader2.csv", case=index.reader2)
    return files


def liu_radiomics_params_file(wildcards):
    path = LIU_CFG.get("radiomics", {}).get("params", "")
    return f"--params {shlex.quote(path)}" if path else ""


def liu_targets():
    return registry.targets("liu2025_dlr", LIU_CFG)


STUDY_TARGETS["liu2025_dlr"] = liu_targets
