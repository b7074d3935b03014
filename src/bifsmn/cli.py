"""``bifsmn`` command line: one subcommand per job, each a thin wrapper over the library.

Errors caused by input are printed as one line (``bifsmn: error: ...``) with exit code 2; the
full traceback appears only with ``--debug``.

Nothing in the library imports this module. The commands import their implementation inside
the function on purpose: ``bifsmn --help`` and the light commands then start without importing
torch and the training stack (a second or more on a small machine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

import bifsmn
from bifsmn.blocks import cli_count as blocks_cli_count
from bifsmn.detect.cli import add_detect_commands
from bifsmn.engine.cli import add_engine_commands
from bifsmn.errors import BifsmnError
from bifsmn.recipes import ABLATIONS, RECIPES
from bifsmn.train.config import packaged_configs, resolve_config, set_teacher


def default_run_dir(cfg_name: str) -> Path:
    return Path("runs") / f"{Path(cfg_name).stem}-{time.strftime('%Y%m%d-%H%M%S')}"


# --------------------------------------------------------------------------- commands
def _config_or_recipe(args: argparse.Namespace):
    """A config file or packaged config, else a comparison recipe (bifsmn_v1, bnn, xnor, ...:
    the BiFSMNv2 recipe with that method's binarizer and distillation)."""
    from bifsmn.recipes import ABLATIONS, RECIPES, recipe_config
    from bifsmn.train.config import load_config

    name = args.config
    is_file = Path(name).is_file() or Path(name).suffix in (".yaml", ".yml")
    recipe = name in RECIPES or name in ABLATIONS
    if not is_file and recipe and (name not in packaged_configs() or args.base is not None):
        table = RECIPES if name in RECIPES else ABLATIONS
        return Path(name), recipe_config(name, table, args.data or "", args.teacher or "",
                                         args.epochs, args.overrides, args.base or "bifsmnv2")
    if args.base is not None:  # a config file or packaged config is trained as it is
        raise BifsmnError(f"--base applies to comparison recipes only, not to the config "
                          f"{name!r} (use --config {args.base} for that config itself)")
    cfg_path = resolve_config(name)
    return cfg_path, load_config(cfg_path, args.overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from bifsmn.outputs import check_folder_path
    from bifsmn.train.config import load_run_config, validate
    from bifsmn.train.runner import run_training

    if args.resume:
        given = [flag for flag, v in (("--config", args.config), ("--data", args.data),
                                      ("--epochs", args.epochs), ("--teacher", args.teacher),
                                      ("--out", args.out), ("--base", args.base))
                 if v is not None]
        if given:
            # the run continues as its config.yaml says; a flag that looked like it changed
            # that but was dropped would be worse than this line
            raise BifsmnError(f"{', '.join(given)} cannot change a resumed run (it continues "
                              "as RUN/config.yaml says; a longer run: --resume RUN "
                              "train.epochs=N)")
        run_dir = Path(args.resume)
        check_folder_path(run_dir)
        if not run_dir.is_dir():
            raise BifsmnError("not a run folder (does not exist)", run_dir)
        cfg = load_run_config(run_dir / "config.yaml", args.overrides)
    else:
        if not args.config:
            raise BifsmnError("give --config FILE|NAME (or --resume RUN)")
        cfg_path, cfg = _config_or_recipe(args)
        if args.data:
            cfg.data.root = args.data
        if args.epochs is not None:
            cfg.train.epochs = args.epochs
        set_teacher(cfg, args.teacher)
        validate(cfg, "command line")  # --epochs and --data bypassed load_config's checks
        run_dir = Path(args.out) if args.out else default_run_dir(cfg_path.name)
        check_folder_path(run_dir)
        from bifsmn.train.lock import RunLock, holds_run

        if holds_run(run_dir) and run_dir.is_dir():
            probe = RunLock(run_dir)  # in use: that error names the holder's pid
            probe.acquire(create=False)
            probe.release()
        if holds_run(run_dir):
            raise BifsmnError("run folder already holds a run; use --resume or another --out",
                              run_dir)
    args.run_dir = run_dir  # for main's hint if the run is interrupted
    summary = run_training(cfg, run_dir, resume=bool(args.resume))
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun the first rank reports
        return 0
    print(f"run folder: {run_dir}")
    if summary["best_epoch"] is None:  # e.g. train.best_rule=monotone never held
        print(f"no epoch met train.best_rule={cfg.train.best_rule}, so there is no best.pt; "
              "last.pt holds the final weights")
        return 0
    what = "balanced accuracy (mean recall over the classes)" \
        if summary.get("selected_on") == "val_bacc" else "accuracy"
    print(f"best validation {what}: {100 * summary['best_val_acc']:.2f}% "
          f"(epoch {summary['best_epoch']})")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from bifsmn.evaluate import (
        compare_paths,
        evaluate_checkpoint,
        format_comparison,
        format_report,
    )

    progress = not args.json and sys.stderr.isatty()  # no bars in logs
    if args.against:
        rows = compare_paths(args.checkpoint, args.against, args.data, args.split,
                             None if args.blocks is None else [args.blocks], args.protocol,
                             progress=progress)
        print(json.dumps(list(rows.values()), indent=2) if args.json
              else format_comparison(rows))
        return 0
    m = evaluate_checkpoint(args.checkpoint, args.data, args.split,
                            8 if args.blocks is None else args.blocks, args.protocol,
                            progress=progress)
    print(json.dumps(m, indent=2) if args.json else format_report(m))
    return 0


def cmd_eval_paired(args: argparse.Namespace) -> int:
    from bifsmn.paired import evaluate_paired

    m = evaluate_paired(args.checkpoint, args.archive, args.audio, tuple(args.blocks),
                        args.split)
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    print(f"{m['checkpoint']}: {m['pairs']} {m['split']} clips as images and as audio")
    for b in args.blocks:
        print(f"  {b} blocks: images {100 * m[f'images_{b}']:.2f}%  audio "
              f"{100 * m[f'audio_{b}']:.2f}%  same prediction {100 * m[f'agree_{b}']:.2f}%")
    return 0


def cmd_scale_table(args: argparse.Namespace) -> int:
    from bifsmn.data.archive import check_feature_archive
    from bifsmn.outputs import check_folder_path
    from bifsmn.scale_report import model_rows, write_table

    check_feature_archive(args.archive)  # before any model is loaded or announced
    check_folder_path(args.out, "folder for the tables (--out)")  # not after minutes of work
    models: list[tuple[str, Path]] = []
    for spec in args.model:  # every spec checked before minutes of evaluation
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path:
            raise BifsmnError(f"--model must be NAME=CHECKPOINT, got {spec!r}")
        if name in {n for n, _ in models}:  # one name, two rows the table cannot tell apart
            raise BifsmnError(f"--model name {name!r} is given twice; each model needs its "
                              "own name")
        if not Path(path).exists():
            raise BifsmnError(f"--model {name}: checkpoint does not exist", path)
        models.append((name, Path(path)))
    rows, t0 = [], time.time()
    for i, (name, path) in enumerate(models):
        eta = "" if not i else \
            f", ETA {(time.time() - t0) / i * (len(models) - i) / 60:.1f} min"
        print(f"model {i + 1}/{len(models)}: {name} ({path}){eta}", file=sys.stderr, flush=True)
        rows += model_rows(name, path, args.archive, args.audio, args.negatives or [])
    print(write_table(rows, Path(args.out), "bifsmn " + " ".join(sys.argv[1:])))
    return 0


#: the largest mel-band count or frame count ``bifsmn summary --input`` builds a model for
MAX_SUMMARY_SIDE = 512


def cmd_summary(args: argparse.Namespace) -> int:
    from bifsmn.binary.convert import binarize
    from bifsmn.models import create_model, list_models
    from bifsmn.models.summary import format_summary

    if args.list or not args.name:
        print("\n".join(list_models()))
        return 0
    try:
        mels, frames = (int(v) for v in args.input.lower().split("x"))
    except ValueError:
        raise BifsmnError(f"--input must look like 32x32 (mel x frames), got {args.input!r}"
                          ) from None
    if not (1 <= mels <= MAX_SUMMARY_SIDE and 1 <= frames <= MAX_SUMMARY_SIDE):
        # fc1's weights grow with mels x frames: 100000x100000 asked for 40 GB before failing
        raise BifsmnError(f"--input sides must lie in 1..{MAX_SUMMARY_SIDE} (mel bands and "
                          f"frames of one clip), got {args.input!r}")
    model = create_model(args.name, num_classes=args.num_classes, n_mels=mels, frames=frames,
                         num_layers=args.layers)
    if args.binary != "none":
        binarize(model, args.binary)
    print(format_summary(model, args.blocks, (1, 1, mels, frames)))
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from bifsmn.data.download import download_speech_commands

    # bars on a terminal; in a log, a line per step (a bar redraws ten times a second)
    path = download_speech_commands(args.version, args.root, test_set=args.test_set,
                                    base_url=args.base_url, progress=sys.stderr.isatty())
    print(path)
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from bifsmn.data.cache import (
        cache_entries,
        clear_cache,
        clear_leftover_temp_files,
        default_cache_dir,
        leftover_temp_files,
    )

    folder = Path(args.dir) if args.dir else default_cache_dir()
    if args.dir and not folder.is_dir():  # a typo must not read as "0 entries" or "deleted 0"
        raise BifsmnError("not a folder" if folder.exists() else "no such folder", folder)
    if args.clear or args.clear_unslotted:
        n, size = clear_cache(folder, unslotted_only=args.clear_unslotted)
        tmp = ""
        if not args.clear_unslotted:
            n_tmp, tmp_bytes = clear_leftover_temp_files(folder)
            tmp = f"; {n_tmp} temp files of killed writes, {tmp_bytes / 1e6:.1f} MB" \
                if n_tmp else ""
        print(f"{folder}: deleted {n} entries, {size / 1e6:.1f} MB{tmp}")
        return 0
    entries = cache_entries(folder)
    for path, size, slot in entries:
        what = (f"{slot.get('kind')} {slot.get('split')} of {slot.get('source')}" if slot
                else "(no sidecar)")
        print(f"{size / 1e6:9.1f} MB  {path.name}  {what}")
    total = sum(size for _, size, _ in entries)
    print(f"{folder}: {len(entries)} entries, {total / 1e6:.1f} MB")
    n_tmp, tmp_bytes = leftover_temp_files(folder)
    if n_tmp:
        print(f"{folder}: {n_tmp} temp file{'s' * (n_tmp != 1)} of killed writes, "
              f"{tmp_bytes / 1e6:.1f} MB (--clear deletes them)")
    if any(slot is None for _, _, slot in entries):
        print("entries without a sidecar come from an older bifsmn and are never "
              "replaced automatically: --clear-unslotted deletes them")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from bifsmn.compare import compare, table_stem

    methods = None
    if args.methods is not None:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        if not methods:  # "" would otherwise mean all methods: hours of training from a typo
            raise BifsmnError(f"--methods names no method ({args.methods!r}); leave it out for "
                              "all of them")
    compare(args.data, args.teacher, Path(args.out), args.epochs, methods, args.ablation,
            args.overrides, args.base, log=print)
    stem = table_stem(Path(args.out), args.ablation, bool(methods))
    print(stem.with_suffix(".md").read_text())
    print(f"tables: {stem}.md {stem}.csv {stem}.png")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from bifsmn.quickstart import quickstart

    quickstart(data=args.data, out=Path(args.out), epochs=args.epochs, root=Path(args.root),
               student_epochs=args.student_epochs)
    return 0


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bifsmn", description="1-bit keyword spotting (BiFSMNv2): "
                                "data, training, export, bitwise inference, detection.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    p.add_argument("--version", action="version", version=f"bifsmn {bifsmn.__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quickstart", help="train, evaluate and summarise a short run")
    q.add_argument("--data", help="Speech Commands folder (downloads v0.02 if omitted)")
    q.add_argument("--root", default="data", help="where to download when --data is omitted")
    q.add_argument("--out", default="runs/quickstart", help="run folder")
    q.add_argument("--epochs", type=int, default=20, help="teacher epochs (default 20)")
    q.add_argument("--student-epochs", type=int, default=8,
                   help="BiFSMNv2 student epochs (default 8)")
    q.set_defaults(func=cmd_quickstart)

    t = sub.add_parser("train", help="train a model from a config")
    recipes = [n for n in {**RECIPES, **ABLATIONS} if n != "bifsmnv2"]
    t.add_argument("--config", help="YAML file, packaged name "
                   f"({', '.join(packaged_configs())}) or comparison recipe "
                   f"({', '.join(recipes)})")
    t.add_argument("--data", help="data folder (sets data.root)")
    t.add_argument("--epochs", type=int, help="sets train.epochs")
    t.add_argument("--out", help="run folder (default runs/<config>-<time>)")
    t.add_argument("--teacher", help="teacher checkpoint: initialises the student and is "
                   "distilled from (sets model.init and distill.teacher)")
    t.add_argument("--resume", metavar="RUN", help="continue an interrupted run folder")
    t.add_argument("--base", help="config a comparison recipe modifies (default bifsmnv2: "
                   "the paper's 32x32 pipeline; bifsmnv2_fbank40: at scale)")
    t.add_argument("overrides", nargs="*", help="section.key=value overrides")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="accuracy, per-class accuracy, confusion matrix")
    e.add_argument("--checkpoint", "--model", dest="checkpoint", required=True,
                   help=".pt checkpoint, run folder, or .bkws file (scored by the C++ engine "
                   "on the same features: a --compact or --storage export's own accuracy; "
                   "--model: the name detect and eval-stream use)")
    e.add_argument("--data", required=True)
    e.add_argument("--split", choices=["training", "validation", "testing", "all"],
                   help="clips to score (default: validation, or all for a bare test archive; "
                   "'all': every clip of an audio folder, not offered by feature archives)")
    e.add_argument("--protocol", default="auto", metavar="auto|reference|standard",
                   help="how a full-layout audio folder's 12-class splits are built "
                   "(bifsmn.data.speech_commands); auto (default): the one the model was "
                   "trained with (recorded since session 68), else reference")
    e.add_argument("--blocks", type=blocks_cli_count, metavar="N",
                   help="thinnable path: blocks to run (8/4/2/1 for 8 layers; the model's own "
                   "counts otherwise; default 8, with --against every path both files have)")
    e.add_argument("--against", metavar="REF",
                   help="checkpoint, run folder or .bkws file to score beside the model on the "
                   "same inputs: both accuracies, the change and the predictions changed per "
                   "path (what a --compact or --storage export costs against its checkpoint)")
    e.add_argument("--json", action="store_true", help="machine-readable output: one JSON "
                   "object; with --against a list of them, one per path")
    e.set_defaults(func=cmd_eval)

    ep = sub.add_parser("eval-paired", help="accuracy on the same test clips as feature-archive "
                        "images and as audio through the model's front end")
    ep.add_argument("--checkpoint", "--model", dest="checkpoint", required=True,
                    help=".pt checkpoint or run folder (--model: the same)")
    ep.add_argument("--archive", required=True, help="feature archive (fbank40 images)")
    ep.add_argument("--audio", required=True, help="audio folder holding the same clips "
                    "(the official 12-class test archive)")
    ep.add_argument("--split", default="testing", choices=["training", "validation", "testing"])
    ep.add_argument("--blocks", type=blocks_cli_count, nargs="+", default=[8], metavar="N")
    ep.add_argument("--json", action="store_true")
    ep.set_defaults(func=cmd_eval_paired)

    st = sub.add_parser("scale-table", help="at-scale results: validation, testing, images vs "
                        "audio, negative speech, for every path of each model")
    st.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT")
    st.add_argument("--archive", required=True, help="feature archive (fbank40 images)")
    st.add_argument("--audio", help="audio folder with the same testing clips (paired columns)")
    st.add_argument("--negatives", action="append", help="negative-speech folder(s)")
    st.add_argument("--out", default="runs/scale-table", help="folder for table.md/.csv/.json "
                    "(docs/results/at-scale holds the committed one: pass it to regenerate)")
    st.set_defaults(func=cmd_scale_table)

    s = sub.add_parser("summary", help="parameters and MACs per layer of a registered model")
    s.add_argument("name", nargs="?")
    s.add_argument("--list", action="store_true", help="list registered models")
    s.add_argument("--num-classes", type=int, default=12)
    s.add_argument("--layers", type=blocks_cli_count, default=8, metavar="N",
                   help="FSMN blocks the model has (default 8, the paper's depth)")
    s.add_argument("--blocks", type=blocks_cli_count, default=None, metavar="N",
                   help="thinnable path to count (default: all of the model's blocks)")
    s.add_argument("--binary", default="none", help="binarization method to apply first")
    s.add_argument("--input", default="32x32", help="input mel x frames: 32x32 (the paper's "
                   "log-mel), 40x32 (fbank40 pooled by 3), 40x96 (fbank40 full resolution)")
    s.set_defaults(func=cmd_summary)

    c = sub.add_parser("compare", help="train every method with one schedule and tabulate")
    c.add_argument("--data", required=True)
    c.add_argument("--teacher", required=True, help="FP teacher checkpoint (init + distillation)")
    c.add_argument("--epochs", type=int, help="epochs per method (default: the --base "
                   "config's train.epochs: 300 for bifsmnv2, 20 for bifsmnv2_fbank40)")
    c.add_argument("--methods", help="comma-separated subset (default: all; its tables are "
                   "written as compare-selected.* / ablation-selected.*)")
    c.add_argument("--ablation", action="store_true", help="BiFSMNv2 ablations instead")
    c.add_argument("--base", default="bifsmnv2", help="config every recipe modifies "
                   "(default bifsmnv2; bifsmnv2_fbank40 for the feature archive)")
    c.add_argument("--out", default="runs/compare")
    c.add_argument("overrides", nargs="*", help="section.key=value applied to every method")
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("data", help="data set tools")
    dsub = d.add_subparsers(dest="data_command", required=True)
    dl = dsub.add_parser("download", help="download and verify official archives")
    dl.add_argument("--version", required=True, choices=["v0.01", "v0.02"])
    dl.add_argument("--test-set", action="store_true", help="the official 12-class test archive")
    dl.add_argument("--root", required=True)
    dl.add_argument("--base-url", help="mirror to fetch the same archive names from "
                    "(checksums are still verified)")
    dl.set_defaults(func=cmd_download)
    dc = dsub.add_parser("cache", help="list (or clear) the decoded-data cache "
                         "($BIFSMN_CACHE or ~/.cache/bifsmn)")
    dc.add_argument("--dir", help="cache folder (default: $BIFSMN_CACHE or ~/.cache/bifsmn)")
    g = dc.add_mutually_exclusive_group()
    g.add_argument("--clear", action="store_true", help="delete every entry")
    g.add_argument("--clear-unslotted", action="store_true",
                   help="delete only entries without a sidecar (from older versions; they are "
                   "never replaced automatically)")
    dc.set_defaults(func=cmd_cache)
    add_detect_commands(sub)
    add_engine_commands(sub)
    return p


#: the training stack's modules and their distributions (the ``train`` extra of pyproject.toml,
#: checked equal by tests/test_packaging.py): ``pip install bifsmn`` leaves them out, since an
#: fbank40 ``.bkws`` detector and the engine need none of them (docs/detection.md, "Without
#: PyTorch")
TRAINING_STACK = {"torch": "torch", "pywt": "pywavelets", "matplotlib": "matplotlib",
                  "PIL": "pillow"}


def missing_package_message(exc: ModuleNotFoundError) -> str | None:
    """One line for a training-stack package that is not installed, else None. The answer is
    the ``train`` extra, not the package alone: it brings the whole stack at the versions
    bifsmn declares (written down once, in pyproject.toml)."""
    top = (exc.name or "").split(".")[0]
    if top not in TRAINING_STACK:
        return None
    return (f"this needs the Python package {top!r} (training stack), which is not installed: "
            "pip install 'bifsmn[train]' (in a checkout: pip install -e '.[train]'); without "
            "it, detection runs with fbank40 .bkws models (the bundled detector)")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt. ``timeout``,
    systemd, ``docker stop`` and Slurm stop a process with SIGTERM; its default action ends the
    process at once, like ``kill -9``, leaving temp files and no message. Raised instead, it
    runs the same cleanup as Ctrl-C (temp files removed, locks released, one line); then
    :func:`main` ends the process by SIGTERM after all, so that the caller sees what it asked
    for (a shell 143, ``subprocess`` -15, systemd a clean stop) and a program that called
    :func:`main` in-process stops too, as it did without the handler."""


class _Sigterm:
    """bifsmn's SIGTERM handler while :func:`main` runs; ``received`` once one came."""

    received = False

    @classmethod
    def handle(cls, signum: int, frame: object) -> None:
        cls.received = True
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one, once this handler ran,
        raise Terminated  # ends the process at once


def _interrupt_hint(args: argparse.Namespace | None) -> str:
    """What an interrupted command left and how to go on, from what is on disk now (a run
    stopped before it saved anything has had its folder removed)."""
    command = getattr(args, "command", None)
    if command == "train":
        run_dir = getattr(args, "run_dir", None)
        if run_dir is None or not (Path(run_dir) / "config.yaml").is_file():
            return " (nothing was saved: run the same command again)"
        kept = ("keeps its last finished epoch" if (Path(run_dir) / "last.pt").is_file()
                else "has no finished epoch yet")
        return (f" (the run folder {kept}; continue with: bifsmn train --resume "
                f"{shlex.quote(str(run_dir))})")
    runs = " (run folders keep their last finished epoch; run the same command again to continue)"
    return {"compare": runs, "quickstart": runs,
            "data": " (a download keeps its .part file; run the same command again to resume "
                    "it)"}.get(command or "", "")


class _StderrLines(logging.Handler):
    """``bifsmn: MESSAGE`` lines on the current ``sys.stderr`` (looked up at each message, so
    a caller that swaps stderr, as pytest's capsys does, still gets them)."""

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger().handlers:  # the host configured logging since: its handler speaks
            return
        try:
            sys.stderr.write(f"bifsmn: {record.getMessage()}\n")
        except Exception:  # noqa: BLE001 - logging never raises into the caller
            self.handleError(record)


def _setup_logging() -> None:
    """bifsmn's own messages at INFO as ``bifsmn:`` lines. Only the ``bifsmn`` logger gets the
    handler: other libraries' messages (matplotlib's cache folder, torch's compile notes) keep
    Python's plain format instead of reading as bifsmn's. A program that configured logging
    itself (a root handler) keeps its own format for ours too."""
    own = logging.getLogger("bifsmn")
    own.setLevel(logging.INFO)
    if not logging.getLogger().handlers and \
            not any(isinstance(h, _StderrLines) for h in own.handlers):
        own.addHandler(_StderrLines())


def main(argv: list[str] | None = None) -> int:
    """The ``bifsmn`` command line. SIGTERM ends a command as Ctrl-C does (cleanup, one line;
    :class:`Terminated`), then the process by SIGTERM. A handler the embedding program
    installed is left alone, and signals are only handled in the main thread."""
    own_handler = (threading.current_thread() is threading.main_thread()
                   and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
    if not own_handler:
        return _main(argv)
    _Sigterm.received = False
    signal.signal(signal.SIGTERM, _Sigterm.handle)
    try:
        try:
            return _main(argv)
        except Terminated:  # before the command's own handling began (argument parsing)
            print("bifsmn: terminated (SIGTERM)", file=sys.stderr)
            return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if _Sigterm.received:
            with contextlib.suppress(OSError, ValueError):  # a closed stream: nothing to flush
                sys.stdout.flush()
                sys.stderr.flush()
            signal.raise_signal(signal.SIGTERM)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit, which would fail the same
    way (a reader gone, a full disk), does not print "Exception ignored" after our line."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no descriptor
        target = sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, target)
        os.close(null)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse gives a trailing nargs="*" positional only the items before the next option,
        # so `train --config c train.epochs=1 --out r train.seed=2` strands the last override:
        # dotted key=value items anywhere on the line are overrides for the commands taking them
        stray = [a for a in extra if a.startswith("-") or "=" not in a or
                 "." not in a.partition("=")[0]]
        if stray or not hasattr(args, "overrides"):
            parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
        args.overrides = [*args.overrides, *extra]
    _setup_logging()
    try:
        rc = args.func(args)
        # a piped stdout holds small outputs until exit, where a reader that left would make
        # Python print "Exception ignored ... BrokenPipeError": flush here, inside the handler
        if sys.stdout is not None:  # None: started with stdout closed (`>&-`)
            sys.stdout.flush()
        return rc
    except BifsmnError as exc:
        if args.debug:
            raise
        print(f"bifsmn: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        message = missing_package_message(exc)
        if message is None or args.debug:
            raise
        print(f"bifsmn: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `bifsmn detect DIR | head -1`: the reader left; end quietly as a shell tool does,
        # and point stdout at /dev/null so Python's exit flush does not raise again
        if args.debug:
            raise
        _stdout_to_devnull()
        return 128 + 13  # SIGPIPE's status
    except OSError as exc:
        # what atomic_write does not turn into a BifsmnError: a write to standard output
        # (`bifsmn detect --json ... > /dev/full`), or a file a library opened
        if args.debug:
            raise
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        where = f": {' -> '.join(names)}" if names else ""
        print(f"bifsmn: error: {exc.strerror or exc}{where}", file=sys.stderr)
        try:  # results printed before the error are kept, unless stdout itself failed
            if sys.stdout is not None:
                sys.stdout.flush()
        except (OSError, ValueError):
            _stdout_to_devnull()
        return 2
    except KeyboardInterrupt as exc:
        term = isinstance(exc, Terminated)
        print(f"bifsmn: {'terminated (SIGTERM)' if term else 'interrupted'}"
              f"{_interrupt_hint(args)}", file=sys.stderr)
        return 128 + signal.SIGTERM if term else 130


if __name__ == "__main__":
    sys.exit(main())
