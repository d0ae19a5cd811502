"""wang2024_twostage slices: 8-bit mapping, boxes from the label map, diseases from the lesion map."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vfrepro.errors import InputError
from vfrepro.studies.wang2024_twostage import slices as S

def _phantom():
    ct = np.full((40, 30, 20), -100.0, np.float32)
    lab = np.zeros(ct.shape, np.int32)
    les = np.zeros(ct.shape, np.int32)
    lab[5:15, 5:21, 4:16] = 20          # L1: z 5..14, y 5..20, x 4..15
    lab[20:30, 5:21, 4:16] = 21         # L2
    ct[lab > 0] = 300.0
    les[8, 6:12, 9:12] = 1              # OVCF fracture line in L1, x 9..11 only
    les[29, 8:14, 4:16] = 3             # Schmorl's node in L2 on every slice
    ct[0, 0, :] = 1000.0                # a bright voxel per slice
    rows = pd.DataFrame({"mask_label": [20, 21], "level": ["L1", "L2"], "ovcf": [1, 0],
                         "of": [0, 0], "sn": [0, 1], "kd": [0, 0], "ps": [0, 0]})
    return ct, lab, les, rows


CFG = S.SliceConfig(n_slices=3, slice_span=1.0, input_size=48, min_box_px=3, min_lesion_px=3)


def test_to_uint8_and_fit_square():
    a = np.array([[-1000.0, 0.0], [500.0, 1000.0]])
    assert S.to_uint8(a).tolist() == [[0, 128], [191, 255]]
    assert S.to_uint8(np.full((3, 3), 5.0)).max() == 0
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out, b, sh = S.fit_square(img, np.array([[1, 0, 3, 2]], np.float32), 6)
    assert sh == (1, 1) and out[1:4, 1:5].tolist() == img.tolist()
    assert b.tolist() == [[2, 1, 4, 3]]
    big = np.arange(100, dtype=np.uint8).reshape(10, 10)
    out, b, sh = S.fit_square(big, np.array([[0, 0, 5, 5]], np.float32), 6)
    assert sh == (-2, -2) and out[0, 0] == big[2, 2] and b.tolist() == [[0, 0, 3, 3]]


def test_extract_boxes_and_lesion_labels():
    ct, lab, les, rows = _phantom()
    sl = S.extract_case_slices("cX", ct, lab, rows, CFG, les)
    assert [s.x_index for s in sl] == [4, 10, 15]
    for s in sl:
        assert s.image.shape == (48, 48) and s.image.dtype == np.uint8
        assert s.image.max() == 255 and s.levels == ("L1", "L2")
        # superior up: L1 (z 5..14) -> rows 25..34 of the 40-row slice, +4 pad; cols 5..20 +9 pad
        assert s.boxes[0].tolist() == [14, 29, 30, 39]
        assert s.boxes[1].tolist() == [14, 14, 30, 24]
        assert s.labels[1].tolist() == [0, 0, 1, 0, 0]
    # the fracture shows on the centre slice only
    assert [int(s.labels[0, 0]) for s in sl] == [0, 1, 0]
    t = S.slices_table(sl)
    assert len(t) == 6 and t["normal"].tolist() == [1, 0, 0, 0, 1, 0]
    # without a lesion map the flags hold on every slice
    sv = S.extract_case_slices("cX", ct, lab, rows, CFG, None)
    assert [int(s.labels[0, 0]) for s in sv] == [1, 1, 1]


def test_z_crop_and_min_box():
    ct, lab, les, rows = _phantom()
    cfg = S.SliceConfig(n_slices=1, input_size=48, min_box_px=3, z_margin_mm=2.0)
    (s,) = S.extract_case_slices("cX", ct, lab, rows, cfg, les)
    # labelled z 5..29 +- 2 -> z 3..31 kept (29 rows), superior-up rows 8..36; pad (48-29)//2 = 9
    assert s.shift == (9 - 8, 9)
    assert s.boxes[0].tolist() == [14, 25 - 8 + 9, 30, 35 - 8 + 9]
    small = S.extract_case_slices("cX", ct, lab, rows, S.SliceConfig(n_slices=1, input_size=48,
                                                                     min_box_px=17), les)
    assert small[0].boxes.shape == (0, 4) and small[0].labels.shape == (0, 5)


def test_errors_name_case_file_field():
    ct, lab, les, rows = _phantom()
    with pytest.raises(InputError) as e:
        S.extract_case_slices("cX", ct, lab, rows.drop(columns="sn"), CFG, les, manifest_path="m.csv")
    assert e.value.field == "sn" and e.value.case == "cX" and "m.csv" in str(e.value)
    bad = rows.copy()
    bad.loc[1, "mask_label"] = 22
    with pytest.raises(InputError) as e:
        S.extract_case_slices("cX", ct, lab, bad, CFG, les, mask_path="mask.nii.gz")
    assert e.value.field == "mask_label" and e.value.path == "mask.nii.gz"
    bad = rows.copy()
    bad.loc[0, "kd"] = 2
    with pytest.raises(InputError, match="0/1"):
        S.extract_case_slices("cX", ct, lab, bad, CFG, les)
    with pytest.raises(InputError) as e:
        S.case_slices("cX", "/nonexistent/image.nii.gz", "/nonexistent/mask.nii.gz", rows, CFG)
    assert e.value.field == "image" and e.value.case == "cX"
    with pytest.raises(InputError) as e:
        S.SliceConfig.from_dict({"n_slice": 3})
    assert e.value.field == "n_slice"


def test_files_and_lesion_resampling(tmp_path):
    import SimpleITK as sitk
    ct, lab, les, rows = _phantom()

    (tmp_path / "cX").mkdir()

    def write(a, name, spacing=(1.0, 1.0, 1.0)):
        im = sitk.GetImageFromArray(a)
        im.SetSpacing(spacing)
        im.SetOrigin((-10.0, -5.0, -20.0))
        sitk.WriteImage(im, str(tmp_path / "cX" / name))
        return tmp_path / "cX" / name

    pi, pm = write(ct, "image.nii.gz"), write(lab.astype(np.uint16), "mask.nii.gz")
    # lesion map on a coarser acquisition grid (z 2 mm): resampled nearest-neighbour
    coarse = les[::2].astype(np.uint8)
    coarse[14, 8:14, 4:16] = 3
    pl = write(coarse, "lesion.nii.gz", (1.0, 1.0, 2.0))
    c, m, l_, sz = S.load_case_arrays("cX", pi, pm, pl)
    assert l_.shape == ct.shape and sz == 1.0 and (l_ == 3).any()
    sl = S.case_slices("cX", pi, pm, rows, CFG, pl)
    assert len(sl) == 3 and sl[1].labels[1, 2] == 1
    sl2 = S.manifest_slices(rows.assign(case_id="cX", lesion_path=str(pl)), tmp_path, CFG,
                            mask_name="mask.nii.gz")
    assert [s.labels.tolist() for s in sl2] == [s.labels.tolist() for s in sl]


@pytest.mark.slow
def test_e2e_cohort_case_flags_agree(pipeline_run):
    """On the preprocessed synthetic cohort of the shared end-to-end run."""
    m = pd.read_csv(pipeline_run / "resources/cohort/manifest.validated.csv", dtype={"case_id": str})
    cid = m.loc[m[list(S.DISEASES)].sum(axis=1) > 0, "case_id"].iloc[0]
    sl = S.manifest_slices(m, pipeline_run / "results/preprocess", S.DEMO_PRESET, cases={cid})
    assert len(sl) == S.DEMO_PRESET.n_slices
    t = S.slices_table(sl)
    flags = m[m.case_id == cid].set_index("level")[list(S.DISEASES)]
    seen = t.groupby("level")[list(S.DISEASES)].max()
    assert (seen <= flags.loc[seen.index]).all().all()          # never a disease the flags lack
    assert seen.to_numpy().sum() > 0
    assert all(s.image.shape == (160, 160) and len(s.boxes) >= 3 for s in sl)
