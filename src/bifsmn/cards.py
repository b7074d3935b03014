"""Publish a trained run as a committed model: ``models/<name>.pt`` plus a card.

The card records what a reader needs to trust or reproduce the file: data, split, seed,
epochs, validation accuracy per path, wall time and the exact command that trained it.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

import torch
import yaml

from bifsmn.data.archive import is_feature_archive
from bifsmn.outputs import atomic_write_bytes, atomic_write_text
from bifsmn.train.checkpoint import load_checkpoint, save_checkpoint
from bifsmn.train.machine import cpu_name


def machine_line(record: dict | list | None, threads: str) -> str:
    """The card's machine row: what training recorded in ``summary.json`` (the CPU, device and
    torch of each machine the run trained on, in order, since session 69: a run resumed
    elsewhere names both), else this machine's CPU and torch with "CPU only" where this torch
    has no CUDA (a run from before the record, published where it trained: every committed
    card)."""
    records = [r for r in (record if isinstance(record, list) else [record])
               if isinstance(r, dict) and r.get("device")]
    def dev(r: dict) -> str:
        return "CPU only" if r["device"] == "CPU" else r["device"]

    if len(records) == 1:
        r = records[0]
        return f"{r.get('cpu', '?')}, {threads}, torch {r.get('torch', '?')}, {dev(r)}"
    if records:
        return "; then ".join(f"{r.get('cpu', '?')}, torch {r.get('torch', '?')}, {dev(r)}"
                              for r in records) + f"; {threads}"
    only = "CPU only" if not torch.cuda.is_available() else "device not recorded"
    return f"{cpu_name()}, {threads}, torch {torch.__version__}, {only}"


def describe_data(data: dict) -> str:
    """One line naming the data, its form and licence, and any negative-speech folders."""
    root = data["root"]
    if is_feature_archive(root):
        text = (f"`{root}` (Speech Commands v0.02 as 98 x 40 fbank40 images, the data set's own "
                "speaker split; CC BY 4.0)")
    else:
        text = f"`{root}` (Speech Commands v0.02 12-class test-set layout, CC BY 4.0)"
    for neg in data.get("negatives") or []:
        text += (f"; negative speech in `_unknown_`: `{neg}` (its 80 % training share by file "
                 "hash; Picovoice wake-word recordings, Apache-2.0)")
    return text


def card_paths(value: object, base: str | Path | None = None) -> object:
    """``value`` (a config or part of one) with absolute paths near ``base`` (default: the
    working directory) written relative to it, e.g. ``/work/shared/data/x`` from ``/work/main``
    as ``../shared/data/x``.

    Why: a run's config keeps the paths it was given, often absolute; a card copied them
    verbatim, so a committed card named one machine's folders where every other card names the
    repository-relative ``../shared/...`` a reader can use. Only paths at most one level above
    ``base`` are rewritten (anything farther stays absolute, which is clearer than ``../../..``);
    other values are returned unchanged."""
    if isinstance(value, dict):
        return {k: card_paths(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [card_paths(v, base) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        try:
            rel = os.path.relpath(value, Path.cwd() if base is None else base)
        except ValueError:  # another drive (Windows)
            return value
        parts = Path(rel).parts
        if parts and ".." not in parts[1:]:  # at most one leading ".."
            return Path(rel).as_posix()
    return value


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}" if n else "torch's default threads"


def thread_counts(history: list[dict], configured: int) -> str:
    """The CPU threads the epochs ran with, e.g. "1 thread (epochs 1-7), 2 threads (epochs
    8-30)". Why per epoch: ``--resume RUN train.threads=N`` changes the count mid-run (and,
    since session 42, config.yaml with it). Epochs recorded before the ``cpu_threads`` column
    existed, and not filled in by a later resume, count as ``configured`` (config.yaml's
    value)."""
    counts = [int(m.get("cpu_threads") or configured) for m in history] or [configured]
    if len(set(counts)) == 1:
        return _threads(counts[0])
    spans: list[tuple[int, int, int]] = []  # (threads, first epoch, last epoch)
    for epoch, n in enumerate(counts, 1):
        if spans and spans[-1][0] == n:
            spans[-1] = (n, spans[-1][1], epoch)
        else:
            spans.append((n, epoch, epoch))
    return ", ".join(f"{_threads(n)} (epoch{'s' if a != b else ''} "
                     f"{a}{'-' + str(b) if a != b else ''})" for n, a, b in spans)


#: what a published model drops of a run's checkpoint: the file format's own fields (written
#: again) and last.pt's resume state (optimizer, schedule, history), which using it never needs
DROPPED_KEYS = ("format", "version", "optimizer", "schedule", "history", "best")


def publish(run_dir: str | Path, name: str, command: str, dest: str | Path = "models",
            notes: str = "", checkpoint: str = "best.pt") -> Path:
    """Copy ``run_dir/best.pt`` to ``dest/name.pt`` and write ``dest/name.md``.

    ``checkpoint="last.pt"`` publishes the last epoch instead, for runs judged at the end of
    their schedule (a fine-tune whose purpose clean validation accuracy does not measure)."""
    if checkpoint not in ("best.pt", "last.pt"):
        raise ValueError(f"checkpoint must be best.pt or last.pt, not {checkpoint!r}")
    run_dir, dest = Path(run_dir), Path(dest)
    ckpt = load_checkpoint(run_dir / checkpoint)
    which = "best" if checkpoint == "best.pt" else "last"
    cfg: Any = card_paths(yaml.safe_load((run_dir / "config.yaml").read_text()))
    history = load_checkpoint(run_dir / "last.pt")["history"]
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    planned = cfg["train"]["epochs"]
    ran = f"{len(history)} of {planned}" if len(history) < planned else f"{planned}"
    best = ckpt["metrics"]
    out = dest / f"{name}.pt"
    save_checkpoint(out, {k: v for k, v in ckpt.items() if k not in DROPPED_KEYS})
    if (run_dir / "curves.png").is_file():
        atomic_write_bytes(dest / f"{name}-curves.png", (run_dir / "curves.png").read_bytes())
    accs = ", ".join(f"{k[8:]} blocks {100 * v:.2f}%" for k, v in best.items()
                     if k.startswith("val_acc"))
    epoch_times = sorted(m["epoch_time_s"] for m in history)
    model = f"`{ckpt['model']['name']}` {ckpt['model']['kwargs']}"
    method = ckpt["binary"]["method"]
    best_epoch = best.get("epoch", summary.get("best_epoch"))
    published = "" if which == "best" else (
        f"; published: the last epoch, the best was epoch {summary.get('best_epoch', '?')}")
    threads = thread_counts(history, cfg["train"].get("threads", 0))
    machine = machine_line(summary.get("machines") or summary.get("machine"), threads)
    wall = (f"{sum(epoch_times) / 60:.1f} min training, median "
            f"{statistics.median(epoch_times):.1f} s/epoch")
    card = f"""# {name}

| | |
|---|---|
| file | `{out.name}` ({out.stat().st_size:,} bytes) |
| model | {model}, binarization `{method}` |
| data | {describe_data(cfg['data'])} |
| split | trained on `{cfg['data']['train_split']}`, selected on `{cfg['data']['val_split']}` |
| seed | {cfg['train']['seed']} |
| epochs | {ran} ({which} epoch {best_epoch}{published}) |
| validation accuracy ({which} epoch) | {accs} |
| wall time | {wall} |
| machine | {machine} |
| labels | {', '.join(ckpt['labels'])} |

Command:

```bash
{command}
```

Training curves: `{name}-curves.png`. Resolved config: below.

```yaml
{yaml.safe_dump(cfg, sort_keys=False).strip()}
```

{notes}
"""
    atomic_write_text(dest / f"{name}.md", card)
    return out
