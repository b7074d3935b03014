"""Print the files of one share of an audio folder as bifsmn splits it (80/10/10 % by a hash
of the relative path: bifsmn.data.archive.AudioSource), one per line, for ``bifsmn detect``.

    python docs/results/hard-negatives/share.py ../shared/data/picovoice_wake_words training
"""

from __future__ import annotations

import argparse

from bifsmn.data.archive import AudioSource


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("split", choices=["training", "validation", "testing"])
    args = ap.parse_args()
    for path in AudioSource(args.folder).split_files(args.split):
        print(path)


if __name__ == "__main__":
    main()
