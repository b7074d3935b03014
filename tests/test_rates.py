"""Accuracies are exact ratios of counts (no float32 noise in JSON, CSV or metrics files)."""

import math

import torch

from bifsmn.evaluate import metrics_from_logits
from bifsmn.rates import rate


def test_rate_is_the_ratio_of_counts():
    mask = torch.tensor([True, False, False])
    assert torch.tensor([1.0, 0.0, 0.0]).mean().item() != 1 / 3  # what float32 gave
    assert rate(mask) == 1 / 3
    assert rate(torch.ones(7, dtype=torch.bool)) == 1.0
    assert math.isnan(rate(torch.zeros(0, dtype=torch.bool)))


def test_metrics_accuracy_and_per_class_are_exact():
    names = ["a", "b", "c"]
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 1, 2, 1, 0, 2, 2])
    logits = torch.nn.functional.one_hot(pred, 3).float()
    m = metrics_from_logits(logits, labels, names)
    assert m["accuracy"] == 4 / 7
    assert m["per_class"] == {"a": 1 / 3, "b": 1 / 2, "c": 1.0}
    assert m["count"] == 7


def test_float32_accuracies_of_older_runs_become_exact_on_resume():
    """A run resumed across the change keeps ties with the earlier epoch: its old epochs'
    float32 means are made the ratios new epochs record."""
    from bifsmn.train.ranking import exact_rate

    old = torch.tensor([1.0] * 900 + [0.0] * 100).mean().item()
    assert old != 0.9 and exact_rate(old, 1000) == 0.9
    assert exact_rate(torch.tensor([1.0, 0.0, 0.0]).mean().item(), 3) == 1 / 3
    assert exact_rate(0.123456, 7) == 0.123456  # not a ratio of 7: unchanged
    assert math.isnan(exact_rate(float("nan"), 5)) and exact_rate(3, 5) == 3


def test_ties_across_the_change_keep_the_earlier_epoch():
    """Balanced accuracy of an old epoch (a float32 mean of recalls) and of a new one with the
    same counts rank as equal, so best.pt stays with the earlier epoch."""
    from bifsmn.train.ranking import beats

    old = (torch.tensor([0.9, 2 / 3]).mean().item(),)
    new = ((0.9 + 2 / 3) / 2,)
    assert new[0] > old[0] and not beats(new, old) and not beats(old, new)
    assert beats((0.5,), (0.49,)) and not beats((0.49,), (0.5,))
    assert beats((0.5, 0.3), (0.5, 0.2)) and not beats((0.5, 0.2), (0.5, 0.3))
