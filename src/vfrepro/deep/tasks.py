"""Task adapters: what the one training loop (:mod:`.train`) needs to know about a task.

An adapter moves a batch to the device, computes the loss (and its named parts, logged per
epoch), gives per-sample outputs for prediction and, where the task has one, an accuracy-like
signal (the plateau scheduler watches it on the training data).

- :class:`SingleLabel`: one class per sample, log-softmax + NLL (= cross-entropy), argmax.
- :class:`MultiLabel`: independent labels, sigmoid + binary cross-entropy.
- :class:`MultiInstance`: bags ``[B, N, C, H, W]``; the model returns a dict of named outputs
  (e.g. bag, instance, super-class logits), each with its target in the batch's target dict;
  the loss is a weighted sum of the heads' losses.
- :class:`Detection`: torchvision's list-of-images / list-of-targets form; the model returns
  its loss dict in train mode (summed, optionally weighted) and detections in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["StepOut", "Task", "SingleLabel", "MultiLabel", "MultiInstance", "Detection",
           "to_device", "use_channels_last", "balanced_class_weights"]


@dataclass
class StepOut:
    loss: torch.Tensor                              # what backward() runs on
    n: int                                          # samples in the batch
    correct: float | None = None                    # accuracy-like count (None: task has none)
    parts: dict[str, float] = field(default_factory=dict)   # named loss parts (batch means)


def use_channels_last(t: torch.Tensor, device: torch.device, enabled: bool) -> bool:
    """channels_last exists for 4-D tensors only (a 5-D bag would raise)."""
    return enabled and device.type == "cuda" and t.dim() == 4 and t.is_floating_point()


def to_device(obj, device: torch.device, channels_last: bool = False):
    """Tensors (also inside lists, tuples, dicts) to ``device``; 4-D images channels-last on GPU."""
    if torch.is_tensor(obj):
        t = obj.to(device, non_blocking=True)
        return t.contiguous(memory_format=torch.channels_last) if use_channels_last(t, device, channels_last) else t
    if isinstance(obj, dict):
        return {k: to_device(v, device, channels_last) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device, channels_last) for v in obj)
    return obj


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """n / (K * n_k) per class (0 for an absent class)."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    return np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)


class Task:
    """Base adapter: batches are ``(inputs, targets)`` pairs collated by the default collate."""

    collate_fn = None
    has_val_loss = True

    def setup(self, train_ds, cfg, device) -> None:
        """Called once before training (e.g. class weights from the training labels)."""

    def move(self, batch, device, cfg):
        x, y = batch
        return to_device(x, device, cfg.channels_last), to_device(y, device)

    def step(self, model, batch) -> StepOut:
        raise NotImplementedError

    def outputs(self, model, x):
        """Per-sample prediction outputs of one (moved) input batch, on CPU."""
        raise NotImplementedError

    def balanced_weights(self, ds) -> np.ndarray:
        raise ValueError(f"sampler 'balanced' needs single-label targets; give {type(self).__name__} "
                         "per-sample sampling weights instead")

    def stack(self, outs: list):
        return torch.cat(outs).numpy() if outs else np.zeros((0, 0))


class SingleLabel(Task):
    """Softmax classifier with ``n_classes`` classes; class weights per ``cfg.class_weights``."""

    def __init__(self, n_classes: int):
        self.n_classes = int(n_classes)
        self.weight = None

    def setup(self, train_ds, cfg, device):
        self.weight = None
        if cfg.class_weights == "balanced":
            w = balanced_class_weights(np.asarray(train_ds.labels), self.n_classes)
            self.weight = torch.tensor(w, dtype=torch.float32).to(device)

    def balanced_weights(self, ds):
        y = np.asarray(ds.labels)
        return 1.0 / np.bincount(y)[y]

    def step(self, model, batch):
        x, y = batch
        logp = torch.log_softmax(model(x).float(), dim=1)
        loss = F.nll_loss(logp, y, weight=self.weight)
        return StepOut(loss, len(y), (logp.argmax(1) == y).sum().item())

    def outputs(self, model, x):
        return torch.softmax(model(x).float(), dim=1).cpu()

    def stack(self, outs):
        return torch.cat(outs).numpy() if outs else np.zeros((0, self.n_classes))


class MultiLabel(Task):
    """Independent sigmoid outputs; targets are 0/1 floats ``[B, L]``. The accuracy signal is the
    mean per-label accuracy at ``threshold``; ``pos_weight`` (per label) goes to the BCE."""

    def __init__(self, n_labels: int, pos_weight=None, threshold: float = 0.5):
        self.n_labels = int(n_labels)
        self.pos_weight = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)
        self.threshold = threshold

    def setup(self, train_ds, cfg, device):
        if self.pos_weight is not None:
            self.pos_weight = self.pos_weight.to(device)

    def step(self, model, batch):
        x, y = batch
        logits = model(x).float()
        y = y.float()
        loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=self.pos_weight)
        hit = ((torch.sigmoid(logits) >= self.threshold) == (y >= 0.5)).float().mean(1).sum().item()
        return StepOut(loss, len(y), hit)

    def outputs(self, model, x):
        return torch.sigmoid(model(x).float()).cpu()

    def stack(self, outs):
        return torch.cat(outs).numpy() if outs else np.zeros((0, self.n_labels))


_HEAD_LOSSES = ("ce", "bce")


class MultiInstance(Task):
    """Bags with several outputs. ``heads`` maps an output name to ``(loss, weight)``, loss "ce"
    (softmax over the last dim; leading dims, e.g. instances, are flattened; target -1 = ignore)
    or "bce"; the model returns ``{name: logits}``, targets are ``{name: tensor}``. ``monitor``
    names the head whose accuracy is the signal and whose probabilities :meth:`outputs` gives."""

    def __init__(self, heads: dict[str, tuple[str, float]], monitor: str):
        bad = [k for k, (kind, _) in heads.items() if kind not in _HEAD_LOSSES]
        if bad or monitor not in heads:
            raise ValueError(f"heads need a loss in {_HEAD_LOSSES} (bad: {bad}) and monitor {monitor!r} "
                             f"one of {sorted(heads)}")
        self.heads = dict(heads)
        self.monitor = monitor

    def _probs(self, name, logits):
        return torch.softmax(logits, -1) if self.heads[name][0] == "ce" else torch.sigmoid(logits)

    def step(self, model, batch):
        x, y = batch
        out = {k: v.float() for k, v in model(x).items()}
        total, parts = 0.0, {}
        for name, (kind, w) in self.heads.items():
            logits, t = out[name], y[name]
            if kind == "ce":
                part = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1).long(),
                                       ignore_index=-1)
            else:
                part = F.binary_cross_entropy_with_logits(logits, t.float())
            total = total + w * part
            parts[name] = part.item()
        p, t = self._probs(self.monitor, out[self.monitor]), y[self.monitor]
        if self.heads[self.monitor][0] == "ce":
            hit = (p.argmax(-1) == t).float().sum().item()
        else:
            hit = ((p >= 0.5) == (t >= 0.5)).float().mean(-1).sum().item()
        return StepOut(total, len(x), hit, parts)

    def outputs(self, model, x):
        return self._probs(self.monitor, model(x)[self.monitor].float()).cpu()


def _list_collate(batch):
    return tuple(zip(*batch))


class Detection(Task):
    """torchvision detectors: batches are (images, targets) tuples of per-image tensors / dicts
    (``boxes`` [n, 4] xyxy, ``labels`` [n]). ``loss_weights`` scales named parts of the model's
    loss dict (default 1). Outputs are the model's detections (dicts of CPU tensors)."""

    collate_fn = staticmethod(_list_collate)
    has_val_loss = False  # in eval mode the model gives detections, not losses

    def __init__(self, loss_weights: dict[str, float] | None = None):
        self.loss_weights = dict(loss_weights or {})

    def move(self, batch, device, cfg):
        x, y = batch
        return to_device(list(x), device), to_device(list(y), device)

    def step(self, model, batch):
        x, y = batch
        losses = model(x, y)
        total = sum(self.loss_weights.get(k, 1.0) * v for k, v in losses.items())
        return StepOut(total, len(x), None, {k: v.item() for k, v in losses.items()})

    def outputs(self, model, x):
        return [{k: v.cpu() for k, v in d.items()} for d in model(x)]

    def stack(self, outs):
        return [d for batch in outs for d in batch]

