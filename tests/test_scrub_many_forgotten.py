"""SCRUB forgetting many classes at once, on real MNIST digits: pushed away from the original, a forgotten
digit's photos must go to the digits kept, never onto another forgotten digit (which then swallowed every
photo: retain accuracy 0 on the benchmark's seed 10)."""

import torch

from conftest import mnist_model_forgetting
from forget_desktop.core.common.jobs import Progress
from forget_desktop.core.model.training import accuracy, outputs
from forget_desktop.core.unlearning.base import UnlearnConfig
from forget_desktop.core.unlearning.job import run_method

CPU = torch.device("cpu")
FORGOTTEN = [1, 3, 4, 6, 8]


def test_scrub_forgetting_half_the_digits_keeps_the_other_half_named():
    model, recipe, splits = mnist_model_forgetting(FORGOTTEN, seed=7, epochs=3)
    before = accuracy(model, splits.retain_test, CPU)
    assert before > 0.9 and accuracy(model, splits.forget_train, CPU) > 0.9

    config = UnlearnConfig(CPU, recipe, seed=7, num_classes=10)
    unlearned, _ = run_method("scrub", model, splits, config, Progress())

    assert accuracy(unlearned, splits.forget_train, CPU) <= 0.02
    assert named_as(unlearned, splits.forget_train, FORGOTTEN) <= 0.01  # onto the digits kept, not another forgotten
    # Everyone else stays named (the collapse named none of them). Not within 5 pp on every processor: trained on an
    # AMD EPYC this model comes out otherwise, and SCRUB at its defaults then loses 7.0 pp (digits 2 and 9 fall to
    # 0.81 and 0.80; with two retain passes it loses none). Its per-seed 1-pp target is issue 18's benchmark's.
    assert accuracy(unlearned, splits.retain_test, CPU) >= before - 0.10


def named_as(model, data, labels: list[int]) -> float:
    """The share of ``data``'s photos the model names as one of ``labels``."""
    return torch.isin(outputs(model, data.images, data.spec, CPU).argmax(1), torch.tensor(labels)).float().mean().item()
