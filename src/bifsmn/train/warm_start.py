"""Starting a model from a checkpoint's weights (``model.init``): the weights that match,
the quantizer parameters a binary student adds, and a classifier carried across class sets.

Why its own module: the class-set rules (a 12-class model widening to 37 classes, a 12-class
teacher starting a student of other keywords) are data-independent and tested on their own.
"""

from __future__ import annotations

from torch import nn

from bifsmn.data.labels import SUB_SEP, UNKNOWN, ClassMerge, group_of
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import load_checkpoint


def _widened_classifier(state: dict, own: dict, src_labels: list[str] | None,
                        labels: list[str], path: str) -> dict:
    """``state`` with its classifier widened to ``labels`` where the checkpoint was trained on
    their merged names (a 12-class model initialising a 37-class one: every ``_unknown_:<word>``
    row starts as the ``_unknown_`` row, :meth:`ClassMerge.widen`), so training starts from
    the checkpoint's own 12-class answers instead of a random classifier."""
    merge = ClassMerge(labels)
    if not src_labels:
        return state
    if merge.identity or list(src_labels) != merge.labels:  # not a widening: match by name
        return classifier_by_name(state, own, list(src_labels), list(labels))
    w, b = "classifier.weight", "classifier.bias"
    if w not in state or b not in state or w not in own or own[w].shape[0] != len(labels):
        raise BifsmnError(f"cannot widen its classifier to {len(labels)} classes", path)
    state[w], state[b] = merge.widen(state[w], state[b], list(src_labels))
    return state


def classifier_by_name(state: dict, own: dict, src_labels: list[str], labels: list[str]
                        ) -> dict:
    """``state`` with its classifier rows rearranged to ``labels`` by class name where the
    checkpoint's classes differ from the model's (a 12-class teacher starting a student of
    keywords ``yes, no``: the ``_unknown_``, ``_silence_``, ``yes`` and ``no`` rows carry over;
    a class the checkpoint lacks keeps the model's initial row). Same classes: unchanged."""
    w, b = "classifier.weight", "classifier.bias"
    if src_labels == labels or not all(k in state and k in own for k in (w, b)) \
            or state[w].shape[0] != len(src_labels) or own[w].shape[0] != len(labels) \
            or state[w].shape[1:] != own[w].shape[1:]:
        return state
    weight, bias = own[w].clone(), own[b].clone()
    grouped = any(group_of(x) == UNKNOWN and x != UNKNOWN for x in src_labels)
    for i, name in enumerate(labels):
        sub = f"{UNKNOWN}{SUB_SEP}{name}"
        if name == UNKNOWN and grouped:
            # a 37-class checkpoint's _unknown_ row scores only what no word class took: as
            # the whole group's row it would never win; the model's own row is the better start
            continue
        j = src_labels.index(name) if name in src_labels else \
            src_labels.index(sub) if sub in src_labels else None  # marvin <- _unknown_:marvin
        if j is not None:
            weight[i], bias[i] = state[w][j], state[b][j]
    return {**state, w: weight, b: bias}


def init_from_checkpoint(model: nn.Module, path: str, only: set[str] | None = None,
                         labels: list[str] | None = None) -> None:
    """Load matching weights (strict=False), as the reference initialises students.
    ``only``: load just these keys (the quantizer parameters that exist only after
    binarization, so a binary student's own alpha/threshold survive a fine-tune).
    ``labels``: the model's classes; a checkpoint trained on their merged names (12 classes
    for the 37-class task) has its classifier widened (:func:`_widened_classifier`), one of
    other classes has its rows matched by class name (:func:`classifier_by_name`)."""
    ckpt = load_checkpoint(path)
    own = model.state_dict()
    state = dict(ckpt["state_dict"])
    if labels is not None and only is None:
        state = _widened_classifier(state, own, ckpt.get("labels"), labels, path)
    src = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape
           and (only is None or k in only)}
    if not src and only is not None:
        return  # an FP checkpoint (a teacher) has no quantizer parameters: nothing to add
    if not src:
        raise BifsmnError("no weights in it match the model", path)
    model.load_state_dict(src, strict=False)
