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
