"""Build the small bundle a device check carries (the device tool sends at most 64 MiB).

Writes ``.gpu/fb40`` (3,000 training, 500 validation and 100 testing images drawn with seed 0
from the fbank40 archive, and every fourth background-noise image), ``.gpu/neg`` (the first 25
recordings of each negative phrase) and copies the two device scripts beside them. ``.gpu/``
is git-ignored (``/.gpu/`` in ``.gitignore``); nothing from it is committed.

    python docs/results/gpu/make_subset.py ../shared/data
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path


def main(shared: Path, out: Path = Path(".gpu")) -> None:
    src, dst = shared / "speech_commands_v0.02_fbank40", out / "fb40"
    rng = random.Random(0)
    for split, n in (("training", 3000), ("validation", 500), ("testing", 100)):
        rels = (src / f"{split}_list.txt").read_text().split()
        pick = sorted(rng.sample(rels, n))
        for r in pick:
            (dst / r).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / r, dst / r)
        (dst / f"{split}_list.txt").write_text("\n".join(pick) + "\n")
    (dst / "_background_noise_").mkdir(parents=True, exist_ok=True)
    for p in sorted((src / "_background_noise_").glob("*.jpg"))[::4]:
        shutil.copy(p, dst / "_background_noise_" / p.name)
    for d in sorted(x for x in (shared / "picovoice_wake_words").iterdir() if x.is_dir()):
        (out / "neg" / d.name).mkdir(parents=True, exist_ok=True)
        for f in sorted(d.glob("*.flac"))[:25]:
            shutil.copy(f, out / "neg" / d.name / f.name)
    here = Path(__file__).parent
    for name in ("run.sh", "run2.sh", "compiled.sh", "prof.py"):
        shutil.copy(here / name, out / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data"))
