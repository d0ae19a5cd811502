"""Per-architecture overrides of a CNN study's train/cv settings."""

import pytest

from vfrepro.deep.run import arch_config
from vfrepro.errors import InputError

CFG = {"train": {"lr": 0.001, "epochs": 6, "batch_size": 16}, "cv": {"folds": 2, "grid": {"lr": [0.1]}},
       "arch_overrides": {"vgg16": {"train": {"lr": 0.0001, "epochs": 8}, "cv": {"folds": 0}}}}


def test_override_applies_to_its_architecture_only():
    vgg = arch_config(CFG, "vgg16")
    assert vgg["train"] == {"lr": 0.0001, "epochs": 8, "batch_size": 16}
    assert vgg["cv"] == {"folds": 0, "grid": {"lr": [0.1]}}
    assert arch_config(CFG, "resnet18")["train"] == CFG["train"]
    assert CFG["train"]["lr"] == 0.001, "the study config must not be modified"


@pytest.mark.parametrize("over, field", [({"train": {"lrr": 1.0}}, "arch_overrides.vgg16.train.lrr"),
                                         ({"cv": {"fold": 3}}, "arch_overrides.vgg16.cv.fold"),
                                         ({"input_size": 64}, "arch_overrides.vgg16.input_size")])
def test_unknown_override_keys_are_named(over, field):
    with pytest.raises(InputError) as err:
        arch_config({"train": {}, "cv": {}, "arch_overrides": {"vgg16": over}}, "vgg16")
    assert err.value.field == field
