"""How often the verifier wakes on speech that holds no keyword.

``python docs/results/cascade/duty_negatives.py CASCADE.bkws TEACHER.bkws [BLOCKS]`` (from the
repository root; under a minute on one core; BLOCKS: the first stage's path, default 8): every
recording of ``../shared/data/picovoice_wake_words``
(1,479 recordings of other phrases, no Speech Commands keyword) streamed one file at a time
through the calibrated cascade (``bifsmn calibrate ... --verifier``), the windows the verifier
scored counted against the windows the gate let through, and the files raising an event.
Why: on the calibration and held-out streams a keyword or another word comes every 2.8 s, so
most of the verifier's duty there is the keywords themselves; a user's always-on device mostly
hears other speech and silence. Prints one line; writes nothing.
"""
import sys
from pathlib import Path

from bifsmn.detect.detector import Detector

cascade, teacher = sys.argv[1], sys.argv[2]
blocks = int(sys.argv[3]) if len(sys.argv) > 3 else 8
root = Path("../shared/data/picovoice_wake_words")
files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".wav", ".flac"))
det = Detector(cascade, blocks=blocks, verifier=teacher)
scored = verified = fired = 0
for f in files:
    events = det.detect_file(f)  # resets the stream (and the counters' stream state) per file
    fired += bool(events)
ws = det.streamer._score
print(f"{blocks} blocks, {len(files)} recordings of other speech: verifier ran on "
      f"{ws.windows_verified} of "
      f"{ws.windows_scored} windows the gate let through "
      f"({100 * ws.windows_verified / max(ws.windows_scored, 1):.2f}%); "
      f"{fired} files ({100 * fired / len(files):.2f}%) raised an event "
      f"(operating point: {det.threshold_source.split(' [')[0]})")
