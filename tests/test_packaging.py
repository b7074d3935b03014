"""What ``pip install bifsmn`` and its extras bring (pyproject.toml).

Why a test: the detection-only install (no PyTorch, docs/detection.md "Without PyTorch") is a
promise made in three places at once: the core dependencies, the ``train`` extra that adds the
training stack back, and the CLI's one-line answer when a stack package is missing
(:data:`bifsmn.cli.TRAINING_STACK`). A dependency added to the wrong list, or a training
package dropped from the ``test`` extra that CI installs, fails here instead of on a user's
machine.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_core_install_leaves_the_training_stack_out():
    from bifsmn.cli import TRAINING_STACK

    core = {_name(r) for r in _project()["dependencies"]}
    stack = set(TRAINING_STACK.values())
    assert not core & stack, f"training packages in the core dependencies: {core & stack}"
    # what detection imports: the engine's numpy, audio reading and resampling, configs, progress
    assert {"numpy", "soundfile", "soxr", "pyyaml", "tqdm"} <= core


def test_train_extra_is_the_training_stack_and_tests_install_it():
    from bifsmn.cli import TRAINING_STACK

    extras = _project()["optional-dependencies"]
    train = {_name(r): r for r in extras["train"]}
    assert set(train) == set(TRAINING_STACK.values())
    # the test extra (CI's install) carries the same requirements, ranges included
    test = set(extras["test"])
    assert set(train.values()) <= test, set(train.values()) - test
    from packaging.requirements import Requirement  # matplotlib's dependency

    # the CPU wheel on every machine here, and older CUDA builds users bring
    assert Requirement(train["torch"]).specifier.contains("2.13.0")
    assert Requirement(train["torch"]).specifier.contains("2.6.0")


def test_onnx_extra_is_what_the_tests_run_the_export_with():
    extras = _project()["optional-dependencies"]
    onnx = set(extras["onnx"])
    assert {_name(r) for r in onnx} == {"onnx", "onnxruntime"}
    assert onnx <= set(extras["test"]), onnx - set(extras["test"])  # same ranges


def test_missing_stack_package_names_the_train_extra():
    from bifsmn.cli import missing_package_message

    for mod in ("torch", "pywt.data", "matplotlib.pyplot"):
        msg = missing_package_message(ModuleNotFoundError(f"No module named {mod!r}", name=mod))
        assert msg is not None and "pip install 'bifsmn[train]'" in msg
        assert repr(mod.split(".")[0]) in msg and "\n" not in msg
    other = ModuleNotFoundError("No module named 'nope'", name="nope")
    assert missing_package_message(other) is None  # a real bug still shows its traceback


def test_top_level_names_and_a_star_import_without_torch():
    """``bifsmn.Engine`` / ``Detector`` / ``create_model`` ... at the top level, loaded on
    first use; without torch, ``from bifsmn import *`` still works (the torch names are left
    out of __all__ there) and the engine runs."""
    import subprocess
    import sys

    import bifsmn

    assert {"Detector", "Engine", "create_model", "list_models",
            "export_checkpoint"} <= set(bifsmn.__all__)
    assert "dfsmn_thinnable" in bifsmn.list_models()
    probe = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from bifsmn import *\n"
        "from bifsmn.detect.scorer import bundled_model\n"
        "print(sorted(n for n in dir() if n[0].isupper() or n.endswith('model')))\n"
        "print(Engine(bundled_model()).kind)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    names, kind = done.stdout.splitlines()
    assert "Engine" in names and "Detector" in names and "create_model" not in names
    assert kind == "bifsmnv2"
