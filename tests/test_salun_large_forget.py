"""SalUn on a large forget set, on real MNIST digits: its weight saliency is measured on a random sample of the
forget photos (``saliency_photos``), which must pick the weights the whole set would, and it still forgets."""

import torch

from conftest import mnist_model_forgetting
from forget_desktop.core.common.jobs import Progress
from forget_desktop.core.faces.crops import to_input
from forget_desktop.core.model.models import trainable
from forget_desktop.core.model.training import accuracy
from forget_desktop.core.unlearning.base import UnlearnConfig
from forget_desktop.core.unlearning.job import run_method
from forget_desktop.core.unlearning.methods.salun import saliency_masks

CPU = torch.device("cpu")
FORGOTTEN = [0, 2, 4, 6, 9]


def test_salun_forgets_half_the_digits_from_a_sampled_saliency():
    model, recipe, splits = mnist_model_forgetting(FORGOTTEN, seed=11, epochs=2)
    forget = splits.forget_train
    assert len(forget) > 1500  # well over the 512 photos the saliency samples, and over 8 steps of 128

    def plain(x):
        return model(to_input(x, forget.spec))

    with trainable(model, "top"):
        whole = saliency_masks(model, forget, plain, 0.5, recipe.batch_size, CPU)
        sampled = saliency_masks(
            model, forget, plain, 0.5, recipe.batch_size, CPU, sample=512, generator=torch.Generator().manual_seed(0)
        )
    chosen = sum(m.sum() for m in whole.values())
    shared = sum((whole[n] * sampled[n]).sum() for n in whole)
    # Measured here: 0.89-0.90 for two random samples of 512 (0.93 for 1,024; 0.50 for a random mask). A sample
    # that does not stand for the set picks others: 0.855 from digits 0 and 2 only, 0.83 with the labels shuffled.
    assert shared / chosen >= 0.86

    before = accuracy(model, splits.retain_test, CPU)
    config = UnlearnConfig(CPU, recipe, seed=11, num_classes=10)
    unlearned, _ = run_method("salun", model, splits, config, Progress())
    assert accuracy(unlearned, splits.forget_train, CPU) <= 0.02
    assert accuracy(unlearned, splits.retain_test, CPU) >= before - 0.02
