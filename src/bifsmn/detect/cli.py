"""``bifsmn detect`` (files or microphone) and ``bifsmn eval-stream`` subcommands.

Kept out of :mod:`bifsmn.cli` so that the detection code owns its own options; the main parser
calls :func:`add_detect_commands`. Heavy imports (torch, the model) happen inside the commands,
so ``bifsmn --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from pathlib import Path

from bifsmn.blocks import cli_count as blocks_cli_count
from bifsmn.detect.cascade import AUTO, DEFAULT_HOLD_MS, DEFAULT_WAKE, NONE
from bifsmn.detect.operating import DEFAULT_SMOOTH_MS
from bifsmn.errors import BifsmnError


def parse_threshold_for(items: list[str] | None, flag: str = "--threshold-for",
                        example: str = "yes=0.7") -> dict[str, float]:
    """``["yes=0.7", "no=0.6"]`` -> ``{"yes": 0.7, "no": 0.6}`` (any LABEL=NUMBER flag)."""
    out: dict[str, float] = {}
    for item in items or []:
        label, sep, value = item.partition("=")
        try:
            if not sep or not label.strip():
                raise ValueError
            out[label.strip()] = float(value)
        except ValueError:
            raise BifsmnError(f"{flag} wants LABEL=VALUE (e.g. {example}), got {item!r}"
                              ) from None
    return out


def _set_threads(n: int, lazy: bool = False) -> None:
    """Intra-op threads for PyTorch. Default 1: a detector scores small batches, where extra
    threads buy little and, on a busy machine, cost a lot (spinning workers fight other
    processes; measured 30x slower on a loaded 2-core box). ``lazy`` (detect): applied when
    torch is first needed, without importing it here (an fbank40 ``.bkws`` detector never needs it);
    calibrate and eval-stream load data through torch, so they set it at once."""
    if n < 1:
        raise BifsmnError(f"--threads must be at least 1 (got {n})")
    from bifsmn.detect.scorer import detection_torch, set_torch_threads

    set_torch_threads(n)
    if not lazy:
        detection_torch()


def _gate(args: argparse.Namespace):
    """The gate the flags ask for: ``--no-gate`` -> None; ``--gate-floor-db`` /
    ``--gate-contrast-db`` / ``--gate-flat-max`` / ``--gate-band-contrast-db`` -> the default
    gate with those values; no
    flag -> ``"model"`` (the
    gate the model's operating points were calibrated with, see
    :func:`bifsmn.detect.gate.resolve_gate`)."""
    from dataclasses import replace

    from bifsmn.detect.gate import DEFAULT_GATE, MODEL_GATE

    if getattr(args, "no_gate", False):
        return None
    given = {k: getattr(args, f"gate_{k}", None)
             for k in ("floor_db", "contrast_db", "flat_max", "band_contrast_db")}
    given = {k: v for k, v in given.items() if v is not None}
    return replace(DEFAULT_GATE, **given) if given else MODEL_GATE


def _make_detector(args: argparse.Namespace):
    from bifsmn.detect.detector import Detector

    _set_threads(args.threads, lazy=True)

    det = Detector(args.model, blocks=args.blocks, threshold=args.threshold,
                   thresholds=parse_threshold_for(args.threshold_for), smooth_ms=args.smooth_ms,
                   refractory_ms=args.refractory_ms, hop_ms=args.hop_ms, rearm=args.rearm,
                   smoothing=parse_threshold_for(args.smooth_for, "--smooth-for", "yes=300"),
                   refractories=parse_threshold_for(args.refractory_for, "--refractory-for",
                                                    "yes=2000"),
                   fa_per_hour=args.fa_per_hour, gate=_gate(args), verifier=args.verifier,
                   wake=args.wake, hold_ms=args.hold_ms)
    if not getattr(args, "json", False):
        if det.operating_point is not None:
            print(f"bifsmn: {det.threshold_source}", file=sys.stderr)
            if det.calibration_data:
                print(f"bifsmn: calibrated on {det.calibration_data}", file=sys.stderr)
        elif det.verifier_source:
            # a model without stored points: the Detector has named its default threshold
            # (once), so only the verifier is left to name
            said = det.verifier_source if args.threshold is None else det.threshold_source
            print(f"bifsmn: {said}", file=sys.stderr)
    elif det.operating_point is not None and \
            det.operating_point.get("calibration", {}).get("reached") is False:
        # stdout is JSON then, stderr still carries the warning calibrate promised
        print(f"bifsmn: warning: {det.threshold_source}", file=sys.stderr)
    return det


def meter_line(level_db: float, scores: dict[str, float], thresholds: dict[str, float],
               width: int = 20, floor_db: float = -80.0, overflows: int = 0) -> str:
    """The live ``--mic`` status line: input level as a bar and in dBFS, and the keyword with
    the highest smoothed score (its threshold in brackets; ``*`` once it is reached; ``-``
    while every score is 0, e.g. on silence the gate skips). Three decimals: calibrated
    thresholds sit at 0.99x, where two would show 0.99 against 0.99. ``overflows``: input
    blocks the device dropped so far (shown once there are any).

    >>> meter_line(-20.0, {"yes": 0.42, "no": 0.1}, {"yes": 0.9, "no": 0.9}, width=10)
    'level [########  ]  -20 dBFS | top yes 0.420 (0.900)'
    """
    lv = level_db if level_db == level_db else floor_db  # NaN -> floor
    lv = min(max(lv, floor_db), 0.0)
    n = round(width * (lv - floor_db) / -floor_db)
    bar = "#" * n + " " * (width - n)
    shown = f"{lv:4.0f}" if lv > floor_db else f"<{floor_db:.0f}"
    top = "-"
    if scores:
        k = max(scores, key=lambda q: (scores[q] if scores[q] == scores[q] else -1.0))
        v = scores[k]
        if v > 0:
            mark = "*" if v >= thresholds.get(k, 1.0) else ""
            top = f"{k} {math.floor(v * 1000) / 1000:.3f} " \
                  f"({thresholds.get(k, float('nan')):.3f}){mark}"
    dropped = f" | {overflows} overflows" if overflows else ""
    return f"level [{bar}] {shown} dBFS | top {top}{dropped}"


def _print_event(ev, source: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"file": source, **ev.to_dict()}), flush=True)
    else:
        print(f"{source}\t{ev.start:9.2f}-{ev.end:.2f} s\t{ev.label}\t{ev.score:.3f}", flush=True)


def cmd_detect(args: argparse.Namespace) -> int:
    if args.mic and args.files:
        raise BifsmnError("give audio FILEs or --mic, not both")
    if not args.mic and not args.files:
        raise BifsmnError("give one or more audio FILEs, or --mic")
    for flag, given in (("--save-windows", args.save_windows), ("--closest", args.closest)):
        if args.mic and given:  # --mic shows the top keyword and its threshold live already
            raise BifsmnError(f"{flag} works on audio FILEs, not --mic")
    for flag, given in (("--seconds", args.seconds), ("--device", args.device)):
        if not args.mic and given is not None:
            raise BifsmnError(f"{flag} applies to --mic only")
    if args.mic:
        if args.seconds is not None and not 0 < args.seconds < math.inf:
            raise BifsmnError(f"--seconds must be a positive number (got {args.seconds})")
        sd = _import_sounddevice()  # before the model loads: a missing package says so first
        return run_mic(_make_detector(args), args.seconds, args.device, args.json, sd)
    det = _make_detector(args)
    saver = None
    if args.save_windows:
        from bifsmn.detect.windows import WindowSaver

        saver = WindowSaver(args.save_windows, det.sample_rate, det.window)
    failed = 0
    total = 0
    files = _expand_folders(args.files)
    for f in files:
        try:
            if isinstance(f, BifsmnError):
                raise f
            scored = det.streamer.windows_scored
            events = _file_events(det, f, saver)
            scored = det.streamer.windows_scored - scored  # the windows the gate passed
        except BifsmnError as exc:
            if args.debug:
                raise
            print(f"bifsmn: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        total += len(events)
        for ev in events:
            _print_event(ev, f, args.json)
        if args.closest:
            _print_closest(det, f, args.json, gated_all=scored == 0)
    if not args.json:
        done = len(files) - failed
        print(f"bifsmn: {total} event{'s' * (total != 1)} in {done} "
              f"file{'s' * (done != 1)}", file=sys.stderr)
        if saver is not None:
            if saver.saved:
                shared = (f"; {saver.shared} more event{'s' * (saver.shared != 1)} had the "
                          "window of an earlier one" if saver.shared else "")
                print(f"bifsmn: {saver.saved} window{'s' * (saver.saved != 1)} saved to "
                      f"{saver.out} (list: {saver.out / 'windows.csv'}{shared})",
                      file=sys.stderr)
            else:  # no list is written then: naming one would send the reader looking
                print(f"bifsmn: no windows saved to {saver.out} (no events)", file=sys.stderr)
    return 2 if failed else 0


def _expand_folders(paths: list[str]) -> list[str | BifsmnError]:
    """Each FILE argument as given, a folder as the audio files below it (sorted); a folder
    without any becomes the error its line reports."""
    from bifsmn.audio import AUDIO_EXTS, audio_files_in

    out: list[str | BifsmnError] = []
    for f in paths:
        if not Path(f).is_dir():
            out.append(f)
            continue
        found = audio_files_in(Path(f))
        out.extend(str(p) for p in found)
        if not found:
            out.append(BifsmnError(f"no audio files ({', '.join(AUDIO_EXTS)}) in this folder", f))
    return out


def _print_closest(det, source: str, as_json: bool, gated_all: bool = False) -> None:
    """``--closest``: the file's keyword window nearest its threshold (stderr in text mode, so
    the event lines on stdout stay one kind; a ``closest`` object on stdout with --json).
    ``gated_all``: the gate passed no window of the file to the network."""
    found = det.closest(det.previous_peaks)  # detect_file ended (reset) the file's stream
    if found is None:
        return
    ev, thr = found
    if as_json:
        # all scores 0: no keyword came close at all; naming one would invent it
        close = ev.to_dict() if ev.score > 0.0 else None
        print(json.dumps({"file": source, "closest": close, "threshold": thr if close else None}),
              flush=True)
    elif ev.score > 0.0:
        # rounded down, so that the printed score given as the threshold fires there
        shown = math.floor(ev.score * 1e4) / 1e4
        print(f"bifsmn: {source}: closest {ev.label} {shown:.4f} (threshold {thr:.4f}) at "
              f"{ev.start:.2f}-{ev.end:.2f} s", file=sys.stderr, flush=True)
    else:
        # a two-stage detector scores 0 wherever its first stage woke no verifier; a gated
        # window is never scored
        why = ("the gate passed no window to the network: silence or steady noise"
               if gated_all and det.gate is not None else
               "no window woke the verifier; --verifier none shows the first stage's scores"
               if det.verifier is not None else "every window scored 0")
        print(f"bifsmn: {source}: no keyword scored above 0 ({why})", file=sys.stderr,
              flush=True)


def _file_events(det, path: str, saver) -> list:
    """A file's events; with a :class:`~bifsmn.detect.windows.WindowSaver`, each event's window
    is saved as it is reported and the folder's list rewritten when the file is done."""
    if saver is None:
        return det.detect_file(path)
    saver.start(path)
    events = []
    try:
        # closed on the way out, whatever happens: the detector is held until its file ends
        with contextlib.closing(det.iter_file(path)) as blocks:
            for block, evs in blocks:
                saver.feed(block)
                for ev in evs:
                    saver.save(ev.label, ev.start, ev.end, ev.score)
                events += evs
    finally:
        if saver.saved:
            saver.write_manifest()
    return events


def _import_sounddevice():
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise BifsmnError("--mic needs the optional 'sounddevice' package and the PortAudio "
                          "library: pip install 'bifsmn[mic]' (Debian/Ubuntu: apt install "
                          f"libportaudio2) [{first}]") from None
    return sd


def _open_settings(sd, dev, info: dict, sample_rate: int) -> tuple[int, int]:
    """(rate, channels) the device records: 16 kHz mono where it can, else its default rate
    (resampled here) and/or two channels (downmixed here). Each setting is tried on its own, so
    a device that only refuses mono is not reported as a rate problem."""
    rates = list(dict.fromkeys([sample_rate, int(info.get("default_samplerate") or sample_rate)]))
    most = int(info.get("max_input_channels") or 1)
    channels = list(dict.fromkeys([1, min(max(most, 1), 2)]))
    last: Exception | None = None
    for ch in channels:
        for rate in rates:
            try:
                sd.check_input_settings(device=dev, channels=ch, dtype="float32",
                                        samplerate=rate)
                return rate, ch
            except (sd.PortAudioError, ValueError) as exc:
                last = exc
    raise BifsmnError(f"the input device accepts none of {rates} Hz with {channels} "
                      f"channel(s) as float32 ({last})")


def run_mic(det, seconds: float | None, device: str | None, as_json: bool, sd=None) -> int:
    """Listen to an input device and print events until Ctrl-C (or ``seconds`` of wall
    time). Event times count the audio received: blocks the device drops (input overflow) are
    counted, reported and missing from the stream, so times run early after one."""
    import numpy as np
    import soxr

    sd = sd or _import_sounddevice()
    dev: int | str | None = int(device) if device and device.isdigit() else device
    try:
        info = sd.query_devices(dev, kind="input")
    except (sd.PortAudioError, ValueError) as exc:
        raise BifsmnError(f"no usable audio input device ({exc})") from None
    info = info if isinstance(info, dict) else {}
    rate, channels = _open_settings(sd, dev, info, det.sample_rate)
    resampler = (soxr.ResampleStream(rate, det.sample_rate, 1, dtype="float32")
                 if rate != det.sample_rate else None)
    block = max(1, det.hop * rate // det.sample_rate)
    name = info.get("name", "input")
    det.reset()
    # the status line goes to stderr; with --json on a terminal it would interleave with the
    # JSON lines, so it is off only when both share the terminal
    live = sys.stderr.isatty() and not (as_json and sys.stdout.isatty())
    overflows = events_seen = 0
    t0 = time.monotonic()
    try:
        with sd.InputStream(device=dev, channels=channels, samplerate=rate, dtype="float32",
                            blocksize=block) as stream:
            mix = f", {channels} channels mixed to mono" if channels > 1 else ""
            print(f"bifsmn: listening on {name!r} at {rate} Hz{mix} (Ctrl-C stops)",
                  file=sys.stderr)
            while seconds is None or time.monotonic() - t0 < seconds:
                data, overflowed = stream.read(block)
                x = np.asarray(data, np.float32)
                x = x.mean(axis=1) if x.ndim == 2 and x.shape[1] > 1 else x.reshape(-1)
                if overflowed:
                    overflows += 1
                    if overflows == 1:
                        if live:
                            print("\r\x1b[K", end="", file=sys.stderr)
                        print("bifsmn: input overflow: the device dropped audio (the machine "
                              "did not read it in time); event times now run early",
                              file=sys.stderr)
                if resampler is not None:
                    x = resampler.resample_chunk(x)
                events = det.process(x)
                events_seen += len(events)
                if live:
                    ms = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
                    line = meter_line(10 * np.log10(max(ms, 1e-12)), det.last_scores,
                                      det.thresholds, overflows=overflows)
                    print("\r" + line + "\x1b[K", end="", file=sys.stderr, flush=True)
                for ev in events:
                    if live:
                        print("\r\x1b[K", end="", file=sys.stderr)
                    _print_event(ev, "mic", as_json)
    except KeyboardInterrupt:
        pass
    except sd.PortAudioError as exc:
        raise BifsmnError(f"audio input failed ({exc})") from None
    finally:
        if live:
            print(file=sys.stderr)
    dropped = f"; {overflows} input overflows (audio dropped)" if overflows else ""
    print(f"bifsmn: {events_seen} event{'s' if events_seen != 1 else ''} in "
          f"{time.monotonic() - t0:.1f} s of listening{dropped}", file=sys.stderr)
    return 0


def cmd_eval_stream(args: argparse.Namespace) -> int:
    from bifsmn.detect.evaluate import eval_stream, format_summary, parse_snrs

    _set_threads(args.threads)
    out = Path(args.out)
    if not args.model:
        from bifsmn.detect.scorer import bundled_model

        args.model = [str(bundled_model())]
    results = eval_stream(args.data, args.model, blocks=args.blocks, minutes=args.minutes,
                          snrs=parse_snrs(args.snr), seed=args.seed, split=args.split,
                          out=out, hop_ms=args.hop_ms, smooth_ms=args.smooth_ms,
                          refractory_ms=args.refractory_ms, tolerance=args.tolerance_ms / 1000,
                          fa_target=args.fa_target, rearm=args.rearm,
                          negatives=args.negatives, negatives_split=args.negatives_split,
                          gate=_gate(args), snr_mode=args.snr_mode,
                          verifier=args.verifier, wake=args.wake, hold_ms=args.hold_ms,
                          log=_to_stderr)  # progress and notes; the table below is the result
    print(format_summary(results, args.fa_target))
    print(f"outputs: {out / 'sweep.csv'} {out / 'det.png'} {out / 'summary.json'}")
    return 0


def _to_stderr(line: str) -> None:
    """Progress, notes and warnings: on stderr, so that stdout holds the results alone."""
    print(line, file=sys.stderr)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from bifsmn.detect.calibrate import calibrate
    from bifsmn.detect.evaluate import parse_snrs

    if (args.model is None) == (args.model_opt is None):
        raise BifsmnError("calibrate takes one model: give it as MODEL or --model MODEL"
                          + (" (not both)" if args.model is not None else ""))
    _set_threads(args.threads)
    calibrate(args.model or args.model_opt, args.data, negatives=args.negatives, blocks=args.blocks,
              minutes=args.minutes, snrs=parse_snrs(args.snr), seed=args.seed,
              fa_targets=args.fa_per_hour, refractory_ms=args.refractory_ms,
              hop_ms=args.hop_ms, tolerance=args.tolerance_ms / 1000, gate=_gate(args),
              split=args.split, negatives_split=args.negatives_split,
              out=args.out, write=not args.dry_run, streams=args.streams,
              confidence=args.confidence or None, per_snr=not args.pooled_budget,
              snr_mode=args.snr_mode, verifier=args.verifier,
              wake=args.wake, hold_ms=args.hold_ms,
              rule=args.rule, archive=args.archive, archive_streams=args.archive_streams,
              archive_split=args.archive_split, only_cascade=args.drop_other_verifiers,
              log=print, progress=_to_stderr)
    return 0


def _verifier_arg(text: str) -> str | None:
    """``--verifier none`` -> no verifier; anything else as given."""
    return None if text == NONE else text


def _verifier_flags(p: argparse.ArgumentParser, what: str, default: str | None = None) -> None:
    p.add_argument("--verifier", metavar="FILE", type=_verifier_arg, default=default,
                   help="second stage (.bkws or .pt, e.g. the FP teacher; A.bkws+B.bkws: "
                   "the mean of several networks' logits; 'bundled': the packaged pair of FP "
                   "teachers; 'none': the model alone): it scores only the windows "
                   "the model woke, and its posteriors decide there "
                   f"(docs/detection.md, 'Two-stage detection'){what}")
    p.add_argument("--wake", type=float, default=None, metavar="P",
                   help="the model's keyword posterior that wakes the verifier (default: the "
                   f"record's, else {DEFAULT_WAKE:g})")
    p.add_argument("--hold-ms", type=float, default=None, metavar="MS",
                   help="the verifier scores the windows ending within MS of the latest wake-up "
                   f"(default: the record's, else {DEFAULT_HOLD_MS:g})")


def _snr_mode_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--snr-mode", choices=["clip", "global"], default="clip",
                   help="clip (default): every word is scaled to the streams' mean level, so "
                   "each is at the given SNR; global: words keep their recorded levels and "
                   "the SNR holds only on average (quiet speakers far below it; the only "
                   "mode before session 11)")


def _common(p: argparse.ArgumentParser,
            smooth_default: float | None = DEFAULT_SMOOTH_MS) -> None:
    p.add_argument("--smooth-ms", type=float, default=smooth_default,
                   help="moving average of posteriors (default: the stored operating point's, "
                   f"else {DEFAULT_SMOOTH_MS:g})" if smooth_default is None else
                   f"moving average of posteriors for the threshold sweep (default "
                   f"{DEFAULT_SMOOTH_MS:g}; 0: none); a model's stored operating points are "
                   "scored with their own")
    # detect and eval-stream run at the values a model's operating points were counted with
    # (calibrate, which sets them, has its own flags)
    p.add_argument("--refractory-ms", type=float, default=None,
                   help="no second event of a keyword within this time (default: the stored "
                   "operating points', else 1000)")
    p.add_argument("--hop-ms", type=float, default=None,
                   help="one 1-s window scored every hop (default: the stored operating "
                   "points', else 100)")
    p.add_argument("--rearm", action="store_true",
                   help="a keyword fires again only after its score dropped below threshold")
    p.add_argument("--threads", type=int, default=1,
                   help="PyTorch threads (default 1, what an always-on detector should use)")
    _gate_flags(p)


def _gate_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-gate", action="store_true",
                   help="score every window (no energy/contrast gate, no start-padding rule)")
    p.add_argument("--gate-floor-db", type=float, default=None, metavar="DB",
                   help="gate: loudest 25-ms frame must reach DB dBFS (either gate flag "
                   "replaces the model's stored gate by the default gate with these values; "
                   "default -60)")
    p.add_argument("--gate-contrast-db", type=float, default=None, metavar="DB",
                   help="gate: loudest frame at least DB above the window's 10th-percentile "
                   "frame (default 10; see --gate-floor-db)")
    p.add_argument("--gate-flat-max", type=float, default=None, metavar="F",
                   help="gate: spectral-flatness test, score a window only if a loud frame has "
                   "flatness <= F (voiced-like; 0.35 rejects broadband noise bursts and keeps "
                   "keyword clips; off by default; see --gate-floor-db)")
    p.add_argument("--gate-band-contrast-db", type=float, default=None, metavar="DB",
                   help="gate: a window failing the contrast test is still scored if its "
                   "300-3400 Hz band reaches this contrast (default 12: keywords in 10 dB noise "
                   "stay reachable, stationary noise does not pass; 'inf' turns it off; see "
                   "--gate-floor-db)")


def add_detect_commands(sub) -> None:
    """Register ``detect`` and ``eval-stream`` on the main parser's subparsers."""
    d = sub.add_parser("detect", help="detect keywords in audio files or from the microphone")
    d.add_argument("files", nargs="*", metavar="FILE",
                   help="audio files (any rate/channels), or folders: every .wav/.flac/.ogg/.mp3 "
                        "below them, in sorted order")
    d.add_argument("--model", help=".pt checkpoint or .bkws engine file (default: the bundled "
                   "model)")
    d.add_argument("--blocks", type=blocks_cli_count, default=None, metavar="N",
                   help="thinnable path: DFSMN blocks to run (8/4/2/1 for 8 layers; the "
                   "model's own counts otherwise; default: its deepest path, 8 for 8 layers)")
    d.add_argument("--threshold", type=float, default=None,
                   help="smoothed-posterior threshold for every keyword (default: the model's "
                   "stored 1 FA/h operating point, else 0.5)")
    d.add_argument("--fa-per-hour", type=float, default=None, metavar="X",
                   help="use the model's stored operating point for X false alarms per hour "
                   "(see `bifsmn calibrate`; default 1)")
    d.add_argument("--threshold-for", action="append", metavar="LABEL=T",
                   help="per-keyword threshold, repeatable (e.g. yes=0.7)")
    d.add_argument("--smooth-for", action="append", metavar="LABEL=MS",
                   help="per-keyword smoothing window in ms, repeatable (e.g. yes=300)")
    d.add_argument("--refractory-for", action="append", metavar="LABEL=MS",
                   help="per-keyword refractory time in ms, repeatable (e.g. yes=2000)")
    _common(d, None)
    _verifier_flags(d, "; the model's points calibrated with this verifier are used. "
                    "Default: with the bundled model (no --model) the bundled verifier, the "
                    "bundled two-stage detector; with --model, none", AUTO)
    d.add_argument("--json", action="store_true", help="one JSON object per event")
    d.add_argument("--closest", action="store_true",
                   help="per file, also report the keyword whose smoothed score came closest "
                   "to its threshold (or furthest above it), with the score and where: the "
                   "threshold that would have caught a keyword the detector missed")
    d.add_argument("--save-windows", metavar="DIR",
                   help="write the 1-s audio window behind every event to DIR (16 kHz WAV, "
                   "list in DIR/windows.csv). Hard-negative mining: run over audio without "
                   "keywords at a looser point (--fa-per-hour 5), then train with "
                   "data.negatives=[DIR] (docs/detection.md, 'Hard negatives')")
    d.add_argument("--mic", action="store_true",
                   help="listen to the default input device (needs bifsmn[mic])")
    d.add_argument("--device", help="input device name or index for --mic")
    d.add_argument("--seconds", type=float, help="stop --mic after this many seconds")
    d.set_defaults(func=cmd_detect)

    e = sub.add_parser("eval-stream", help="miss rate vs false alarms/hour on long test streams")
    e.add_argument("--data", required=True, help="Speech Commands folder")
    e.add_argument("--model", action="append",
                   help=".pt or .bkws; repeat to compare models (default: the bundled model)")
    e.add_argument("--blocks", type=blocks_cli_count, nargs="+", default=None, metavar="N",
                   help="thinnable paths to evaluate (e.g. --blocks 8 4 2 1; default: each "
                   "model's deepest path, 8 for 8 layers)")
    e.add_argument("--minutes", type=float, default=10.0, help="length of each stream")
    e.add_argument("--snr", default="10,20", help="comma-separated SNRs in dB; 'clean' = none")
    _snr_mode_flag(e)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--split", choices=["training", "validation", "testing", "all"],
                   help="clips to use (default: validation, or all for a bare test archive)")
    e.add_argument("--out", default="runs/eval-stream", help="folder for CSV, PNG and JSON")
    _common(e)
    e.add_argument("--tolerance-ms", type=float, default=500.0,
                   help="slack when matching events to keywords (default 500)")
    e.add_argument("--fa-target", type=float, nargs="+", default=[0.5, 1.0],
                   help="false alarms per hour of the reported operating points "
                   "(default 0.5 1)")
    e.add_argument("--negatives", metavar="DIR",
                   help="folder of other speech (e.g. picovoice_wake_words): one share of it "
                   "(--negatives-split, default testing) is mixed into the streams and the "
                   "fraction of its clips raising an event is reported")
    e.add_argument("--negatives-split", default="testing",
                   choices=["training", "validation", "testing"],
                   help="share of --negatives mixed in (default testing: never used by "
                   "training, which takes 80 %%, or calibration, which takes validation)")
    _verifier_flags(e, "; applies to every --model")
    e.set_defaults(func=cmd_eval_stream)

    c = sub.add_parser("calibrate", help="choose and store per-keyword thresholds for 0.5/1/5 "
                       "false alarms per hour (rewrites the .pt or .bkws file)")
    c.add_argument("model", nargs="?", help=".pt checkpoint or .bkws file to calibrate "
                   "(rewritten atomically unless --out is given)")
    c.add_argument("--model", dest="model_opt", metavar="MODEL",
                   help="the same, as an option (the name detect and eval-stream use)")
    c.add_argument("--data", required=True, help="Speech Commands folder (validation split)")
    c.add_argument("--negatives", metavar="DIR",
                   help="folder of other speech; one share of it (SHA-1 hash split; "
                   "--negatives-split, default validation) is mixed into the streams")
    c.add_argument("--negatives-split", default="validation",
                   choices=["training", "validation", "testing"],
                   help="share of --negatives mixed into the streams (default validation)")
    c.add_argument("--split", default="validation",
                   choices=["training", "validation", "testing", "all"],
                   help="clips of --data to build the streams from (default validation; "
                   "'training' for a model trained on other data, so evaluation can keep "
                   "the validation speakers)")
    c.add_argument("--blocks", type=blocks_cli_count, nargs="+", default=None, metavar="N",
                   help="thinnable paths to calibrate (default: the model's deepest path, 8 "
                   "for 8 layers)")
    c.add_argument("--minutes", type=float, default=60.0, help="length of each stream")
    c.add_argument("--snr", default="clean,10",
                   help="--streams streams per SNR, comma-separated dB or 'clean' (default "
                   "clean,10)")
    _snr_mode_flag(c)
    c.add_argument("--seed", type=int, default=1000,
                   help="first stream seed (default 1000; eval-stream uses 0)")
    c.add_argument("--fa-per-hour", type=float, nargs="+", default=[0.5, 1.0, 5.0],
                   help="false-alarm rates to store (default 0.5 1 5)")
    c.add_argument("--refractory-ms", type=float, default=1000.0)
    c.add_argument("--hop-ms", type=float, default=100.0)
    c.add_argument("--tolerance-ms", type=float, default=500.0)
    c.add_argument("--threads", type=int, default=1)
    _gate_flags(c)
    c.add_argument("--streams", type=int, default=6,
                   help="streams per SNR (seeds --seed, --seed+1, ...); more hours make a "
                   "rate of 1 FA/h measurable (default 6: 12 h with --snr clean,10)")
    c.add_argument("--confidence", type=float, default=0.9, metavar="P",
                   help="store thresholds whose one-sided Poisson upper bound at P of the "
                   "calibration false alarms fits the rate, not the count itself (default "
                   "0.9; 0 = the count itself, as before issue 13's fix)")
    c.add_argument("--pooled-budget", action="store_true",
                   help="the false-alarm budget holds on all streams pooled (before issue "
                   "13's fix) instead of on each SNR's streams separately")
    c.add_argument("--rule", choices=("pooled", "keyword", "shared"), default="pooled",
                   help="thresholds per keyword, chosen greedily where they buy most hits; "
                   "'pooled' (default): no keyword's false alarms are taken as fewer than the "
                   "mean keyword's (points that hold on new speakers); 'keyword': each "
                   "keyword's own counts (the rule before session 16: 1 FA/h points gave "
                   "0.9-2.8 FA/h on new speakers, docs/results/threshold-rule); 'shared': one "
                   "threshold for all keywords")
    c.add_argument("--archive", metavar="DIR",
                   help="fbank40 feature archive: its --archive-split images make more "
                   "streams per SNR, built in the feature domain (fbank40 models; more "
                   "speakers behind the stored rates; docs/detection.md)")
    c.add_argument("--archive-streams", type=int, metavar="N",
                   help="streams per SNR from --archive (default: --streams)")
    c.add_argument("--archive-split", default="validation",
                   choices=["training", "validation", "testing"],
                   help="split of --archive to draw from (default validation; the model must "
                   "not have trained on it)")
    c.add_argument("--out", help="write the calibrated model here instead of in place")
    c.add_argument("--dry-run", action="store_true", help="print the points, write nothing")
    _verifier_flags(c, "; stored beside the model's own points, used with that verifier")
    c.add_argument("--drop-other-verifiers", action="store_true",
                   help="with --verifier: the new cascade record replaces those stored for "
                   "other verifier files (a model re-bundled with a new verifier)")
    c.set_defaults(func=cmd_calibrate)
