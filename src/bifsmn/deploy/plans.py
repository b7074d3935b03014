"""Storage plans: which folded constants of a binary model a ``.bkws`` file stores in which
narrow dtype (``bifsmn export --storage PLAN``).

Why plans rather than one ``--param-dtype``: the constant groups differ in what narrowing does
to the function (docs/bkws-format.md, "Precision choices"), and the 20.2x size target needs
about 12 bits per constant on average, which no single float width gives. A plan maps each
group (conv1, thresholds tau, conv2's tau2, scales, biases, classifier) to ``f32``, ``f24``,
``f16``, ``i8`` (one scale per row of the first axis: tau0 and tau1 of a layer each get one) or
``i8r`` (one scale for the whole record, format version 5). The narrowed constants are rounded
once, by :meth:`bifsmn.deploy.spec.DeploySpec.add`'s rules, so the file's PyTorch reference
(:func:`bifsmn.deploy.deploy` with the same ``storage``) and the engine stay bit-identical; the
function still changes by the rounding, which is measured per model and path
(docs/results/bkws-sizes).
"""

from __future__ import annotations

import copy

import numpy as np

from bifsmn.deploy.spec import DeploySpec
from bifsmn.deploy.storage import F16_MAX
from bifsmn.errors import BifsmnError

#: constant groups a storage plan assigns a dtype to
GROUPS = ("conv1", "tau", "tau2", "scale", "bias", "classifier")
#: storage dtypes a plan may use (``i8``: one scale per row of the first axis; ``i8r``: one
#: scale for the whole record, format version 5)
PLAN_DTYPES = ("f32", "f24", "f16", "i8", "i8r")
#: named plans. ``small``: thresholds int8 (one scale each for tau0 and tau1 of a layer),
#: biases int8 with one scale per record, scales and conv1 float16, classifier int8 per class
PLANS: dict[str, dict[str, str]] = {
    "small": {"conv1": "f16", "tau": "i8", "tau2": "f16", "scale": "f16", "bias": "i8r",
              "classifier": "i8"},
}


def group_of(name: str) -> str | None:
    """The plan group of a constant record name (None: kept as folded, e.g. the PReLU slopes
    and the classifier bias)."""
    if name.startswith("conv1."):
        return "conv1"
    if name == "classifier.w":
        return "classifier"
    if name == "conv2.tau2":
        return "tau2"
    if name.endswith(".tau"):
        return "tau"
    parts = name.split(".")
    if "scale" in parts:
        return "scale"
    if "bias" in parts:
        return "bias"
    return None


def parse_plan(text: str) -> dict[str, str]:
    """``small`` or ``group=dtype,...`` (groups missing from the list stay float32)."""
    if text in PLANS:
        return dict(PLANS[text])
    if not text.strip(" ,"):
        raise BifsmnError(f"empty storage plan: give a plan name ({', '.join(PLANS)}) or "
                          "GROUP=DTYPE items")
    plan = dict.fromkeys(GROUPS, "f32")
    named: set[str] = set()
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, _, dtype = item.partition("=")
        if key not in GROUPS or dtype not in PLAN_DTYPES:
            raise BifsmnError(f"storage plan item {item!r}: want GROUP=DTYPE with GROUP in "
                              f"{', '.join(GROUPS)} and DTYPE in {', '.join(PLAN_DTYPES)} "
                              f"(or a plan name: {', '.join(PLANS)})")
        if key in named:  # two answers for one group: refuse rather than keep the last
            raise BifsmnError(f"storage plan {text!r} names group {key!r} twice")
        named.add(key)
        plan[key] = dtype
    return plan


def plan_text(plan: dict[str, str]) -> str:
    """Canonical ``group=dtype,...`` form of a plan (stored in the file's metadata)."""
    return ",".join(f"{g}={plan.get(g, 'f32')}" for g in GROUPS)


def narrowed_spec(spec: DeploySpec, plan: dict[str, str],
                  values: dict[str, np.ndarray] | None = None) -> DeploySpec:
    """``spec`` (float32 constants) with every planned constant stored in the plan's dtype,
    rounded once by :meth:`DeploySpec.add`'s rules (what the exporter writes). ``values``
    replaces constants by name before the rounding (e.g. fine-tuned ones)."""
    if not spec.is_binary:
        raise BifsmnError(f"storage plans apply to binary models, not {spec.kind}")
    out = copy.copy(spec)
    out.constants = {}
    for name, const in spec.constants.items():
        group = group_of(name)
        value = (values or {}).get(name)
        if group is not None and const.dtype != "f32":
            raise BifsmnError(f"a storage plan starts from float32 constants ({name} is "
                              f"{const.dtype})")
        if group is None:
            if value is None:
                out.constants[name] = const
            else:
                out.add(name, value, const.dtype)
            continue
        dtype = plan.get(group, "f32")
        value = np.asarray(const.value if value is None else value, np.float64)
        if dtype == "f16" and np.abs(value).max(initial=0.0) > F16_MAX:
            raise BifsmnError(f"record {name}: values beyond the float16 range (max |v| "
                              f"{np.abs(value).max():.3g}); use a plan with f24 or f32 there")
        out.add(name, value, dtype)
    out.param_dtype = "plan:" + plan_text(plan)
    out.classifier_dtype = {"i8r": "i8"}.get(plan.get("classifier", "f32"),
                                             plan.get("classifier", "f32"))
    return out
