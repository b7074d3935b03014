"""Label sets of the Speech Commands tasks (README, "Data").

The 12-class order is the reference code's (unknown first, silence second) so that label indices
and confusion matrices read the same as in the BiFSMN papers.
"""

from __future__ import annotations

from bifsmn.errors import BifsmnError

COMMANDS: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
NON_KEYWORDS: tuple[str, ...] = (UNKNOWN, SILENCE)  # never fire as detections
LABELS_12: tuple[str, ...] = (UNKNOWN, SILENCE, *COMMANDS)
LABELS_35: tuple[str, ...] = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
    "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one",
    "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow",
    "yes", "zero",
)
TASKS = {12: LABELS_12, 35: LABELS_35}


def labels_for_task(num_classes: int) -> tuple[str, ...]:
    """Return the ordered label names of the ``num_classes`` task."""
    if num_classes not in TASKS:
        raise BifsmnError(f"unsupported task: {num_classes} classes (choose 12 or 35)")
    return TASKS[num_classes]
