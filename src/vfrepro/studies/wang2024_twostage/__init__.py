"""wang2024_twostage: Faster R-CNN vertebra detection + multi-label diagnosis on sagittal CT.

Wang et al., Quant Imaging Med Surg 2024;14(1):800-813 (seed 003). The paper detects vertebrae
on sagittal CT slices (VDModule: Faster R-CNN, ResNet18 vs MobileNetV2, 1024 px, 8x offline
flips / rotations), jitters each box 5x (VEModule) and diagnoses OVCF, old fracture, Schmorl's
node, Kümmell's disease and previous surgery with a six-output sigmoid ResNet50 (VCModule),
trained on a resampled set; it reports AP / PR curves, hit / FN / FP by intersection-over-minimum
and Table 3's one-vs-all sensitivity, specificity, PPV, NPV and F1 per dataset.

Modules: :mod:`.slices` (slices, boxes, per-box findings from the label and lesion maps),
:mod:`.boxes` (IoM, matching, normals, jitter, patches), :mod:`.datasets` (D4 detection dataset,
patch dataset, the paper's resampling), :mod:`.metrics` (AP via torchmetrics / pycocotools,
Wilcoxon, per-class metrics), :mod:`.tables` (Tables 1-2), :mod:`.study` (detector and
classifier on the shared engine ``vfrepro.deep``, predictions in the evaluation schema),
:mod:`.report` (published beside reproduced, figures, chosen values), :mod:`.cli`
(``vfrepro wang2024_twostage {slices,detect,detection-eval,classify,evaluate}``). Each module's
``CHOSEN`` lists the readings of the paper and the unstated values taken; ``chosen.csv`` gathers
them. Chosen here among others: one stride-16 feature map (no FPN) as the paper's MATLAB detector,
random init unless local weights are given, the paper's resampling as sampling weights.
"""
