"""``bifsmn export`` and ``bifsmn bench`` (registered by :func:`add_engine_commands`).

The commands import their implementation inside the function on purpose (torch, the exporter):
building the parser for ``bifsmn --help`` then imports neither.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_export(args: argparse.Namespace) -> int:
    from bifsmn.engine.export import COMPACT, export_checkpoint
    from bifsmn.engine.format import feature_dict, read_file
    from bifsmn.errors import BifsmnError

    if args.blocks is not None and not str(args.blocks).strip(" ,"):  # "" is not "all"
        raise BifsmnError(f"--blocks names no path ({args.blocks!r}); leave it out (or give "
                          "all) for every path")
    dtypes = {"classifier_dtype": args.classifier_dtype, "param_dtype": args.param_dtype}
    if args.compact:
        if any(v is not None for v in dtypes.values()):
            raise BifsmnError("--compact sets --param-dtype and --classifier-dtype itself; "
                              "give either --compact or the dtypes")
        dtypes = dict(COMPACT)
    if args.storage is not None and (args.compact or any(v is not None
                                                          for v in dtypes.values())):
        raise BifsmnError("--storage sets every dtype itself; give either --storage or "
                          "--compact / the dtypes")
    if args.max_drop is not None:
        return _export_smallest(args, dtypes)
    if args.data is not None or args.split is not None:
        raise BifsmnError("--data and --split choose the storage with --max-drop; give "
                          "--max-drop POINTS too")
    if str(args.output).lower().endswith(".onnx"):
        return _export_onnx(args, dtypes)
    if args.no_check:
        raise BifsmnError("--no-check applies to ONNX exports (.onnx); a .bkws file is "
                          "checked by its own loader")
    try:
        out = export_checkpoint(args.checkpoint, args.output, args.blocks or "all",
                                classifier_dtype=dtypes["classifier_dtype"],
                                param_dtype=dtypes["param_dtype"] or "f32", storage=args.storage)
    except BifsmnError as exc:
        if args.compact and "applies to binary models only" in str(exc):
            # the message names the dtype --compact expanded to, which the user never typed
            raise BifsmnError("--compact applies to binary models only (a full-precision "
                              "model is the FP32 baseline)", args.checkpoint) from None
        raise
    recs = read_file(out)
    blocks = ", ".join(str(int(b)) for b in recs["paths"].array())  # block counts (v3)
    bits = sum(r.shape[0] * r.shape[1] for r in recs.values() if r.dtype == "bits")
    print(f"{out}: {out.stat().st_size:,} bytes, kind {recs['meta.kind'].text()}, "
          f"blocks {blocks}, features {feature_dict(recs, out)['kind']}, {len(recs)} records, "
          f"{bits:,} weight bits")
    narrowed = args.storage is not None or any(v not in (None, "f32") for v in dtypes.values())
    if narrowed:  # a narrowed file computes another function than its checkpoint: say how to see
        print(f"narrowed constants: some predictions may differ from {args.checkpoint}'s; what "
              f"it costs per path: bifsmn eval --model {out} --against {args.checkpoint} "
              "--data DIR")
    return 0


def _export_smallest(args: argparse.Namespace, dtypes: dict) -> int:
    """``bifsmn export CKPT -o F --max-drop POINTS --data DIR``: the smallest storage within
    the budget (:mod:`bifsmn.storage_search`), every candidate's cost printed."""
    from bifsmn.errors import BifsmnError
    from bifsmn.storage_search import smallest_within

    if args.compact or args.storage is not None or any(v is not None for v in dtypes.values()):
        raise BifsmnError("--max-drop chooses the storage itself; give either --max-drop or "
                          "--compact / --storage / the dtypes")
    if args.data is None:
        raise BifsmnError("--max-drop needs --data DIR: the clips the storages are scored on")
    if str(args.output).lower().endswith(".onnx"):
        raise BifsmnError("--max-drop chooses a .bkws storage; an ONNX export takes --storage")

    out, chosen, trials = smallest_within(args.checkpoint, args.output, args.blocks or "all",
                                          args.data, args.max_drop, args.split)
    head = next(iter(trials[0].rows.values()))
    print(f"storages scored against {args.checkpoint} on {args.data} [{head['split']}, "
          f"{head['count']} clips]; points (predictions changed):")
    for t in trials:
        changes = " / ".join(f"{r['change_points']:+.2f} ({r['changed']})"
                             for r in t.rows.values())
        print(f"  {t.label:<42} {t.bytes:>9,} bytes  change per path (blocks "
              f"{', '.join(map(str, t.rows))}): {changes}")
    print(f"{out}: {chosen.bytes:,} bytes, {chosen.label}: the smallest within "
          f"{args.max_drop:g} points on every path (chosen on this split: confirm on another, "
          f"bifsmn eval --model {out} --against {args.checkpoint} --data DIR --split SPLIT)")
    return 0


def _export_onnx(args: argparse.Namespace, dtypes: dict) -> int:
    """``bifsmn export CKPT -o model.onnx``: one path as an ONNX graph, parity-checked."""
    from bifsmn.engine.onnx_export import export_onnx

    out, parity = export_onnx(args.checkpoint, args.output, args.blocks, storage=args.storage,
                              check=not args.no_check, **dtypes)
    print(f"{out}: {out.stat().st_size:,} bytes, ONNX opset 17, input 'features', output "
          "'logits'")
    print(parity.line() if parity else "parity not checked (--no-check)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from bifsmn.engine.bench import run_bench

    run_bench(args.binary, args.teacher, Path(args.out), runs=args.runs, warmup=args.warmup,
              repeat=args.repeat, keep_models=args.keep_models)
    print(f"wrote {Path(args.out) / 'bench.md'}, bench.json, bench.png")
    return 0


def add_engine_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``export`` and ``bench`` to the ``bifsmn`` subcommand parser."""
    x = sub.add_parser("export", help="write a checkpoint as a .bkws file for the C++ engine "
                                      "(or, named .onnx, one path as an ONNX graph)")
    x.add_argument("checkpoint")
    x.add_argument("-o", "--out", "--output", dest="output", required=True,
                   help="output .bkws path (--out as every other writer; missing parent "
                        "folders are created; the file is written atomically; an existing "
                        "recording or checkpoint is never replaced); a name ending in .onnx "
                        "writes one path as an ONNX graph of the deployed arithmetic, checked "
                        "against PyTorch in ONNX Runtime first (docs/onnx.md)")
    x.add_argument("--blocks", metavar="all|N[,N...]",
                   help="thinnable paths to include, as block counts: 'all' (default: every "
                        "path the model has), one (8) or several (8,2: e.g. a student trained "
                        "on those paths only); ONNX: one block count (default: the most)")
    x.add_argument("--no-check", action="store_true",
                   help="ONNX: skip the parity check against PyTorch (which needs "
                        "onnxruntime)")
    x.add_argument("--classifier-dtype", choices=["f16", "f32", "i8"],
                   help="classifier weight storage (default f32; f16 saves 2 bytes per weight "
                        "but moves logits by ~1e-3; on a full-precision model f16 stores every "
                        "weight matrix, not only the classifier's; i8, binary models: per-row "
                        "int8, 3 bytes per weight saved)")
    x.add_argument("--param-dtype", choices=["f16", "f24", "f32"],
                   help="binary models: storage of the per-channel constants (thresholds, "
                        "folded scales and biases, conv1); f24 keeps 3 of 4 bytes, f16 halves "
                        "them; the engine stays bit-identical to bifsmn.deploy.deploy(..., "
                        "param_dtype=), the model's function changes by the rounding (default "
                        "f32)")
    x.add_argument("--compact", action="store_true",
                   help="binary models: --param-dtype f24 --classifier-dtype i8, the smallest "
                        "storage measured to keep validation accuracy within 0.2 points "
                        "(docs/bkws-format.md)")
    x.add_argument("--storage", metavar="PLAN",
                   help="binary models: a storage plan per constant group instead of the "
                        "dtypes: 'small' (int8 thresholds and biases, float16 scales and "
                        "conv1, int8 classifier: the files >= 20.2x smaller than the FP32 "
                        "teacher) or GROUP=DTYPE,... with groups conv1, tau, tau2, scale, bias, "
                        "classifier and dtypes f32, f24, f16, i8, i8r; reference: "
                        "bifsmn.deploy.deploy(..., storage=PLAN) (docs/bkws-format.md)")
    x.add_argument("--max-drop", type=float, metavar="POINTS",
                   help="binary models: export the smallest storage (--storage small, float16 "
                        "constants, --compact, int8 classifier, float32) whose accuracy on every "
                        "path is at most POINTS below the checkpoint's on --data (each "
                        "candidate's cost is printed; chosen on that split, so confirm on "
                        "another)")
    x.add_argument("--data", help="with --max-drop: data set the storages are scored on")
    x.add_argument("--split", choices=["training", "validation", "testing", "all"],
                   help="with --max-drop: its split (default: the data set's evaluation split)")
    x.set_defaults(func=cmd_export)

    b = sub.add_parser("bench", help="engine vs PyTorch / ONNX Runtime: latency, size, roofline")
    b.add_argument("--binary", required=True, help="binarized checkpoint (bifsmnv2 / bifsmn_v1)")
    b.add_argument("--teacher", required=True, help="full-precision teacher checkpoint")
    b.add_argument("--out", default="bench", help="output folder (default: bench/)")
    b.add_argument("--runs", type=int, default=200, help="timed calls per measurement")
    b.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    b.add_argument("--repeat", type=int, default=1, metavar="K",
                   help="take every measurement K times, rows interleaved (A1 B1 ... A2 B2 "
                        "...), and report the minimum of the K medians (default 1)")
    b.add_argument("--keep-models", action="store_true",
                   help="keep the timed files (.bkws exports, the teacher's ONNX graph) in "
                        "OUT/models (default: a temporary folder, deleted)")
    b.set_defaults(func=cmd_bench)
