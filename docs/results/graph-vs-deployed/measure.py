"""Training graph vs deployed arithmetic on the shared dev data, every path of every committed
binary 32x32 log-mel model: the clips whose predicted class differs, and the validation
accuracy of each (docs/engine.md, "Why binary models are exact").

    cd docs/results/graph-vs-deployed && python measure.py [DEV_DATA] > table.md

DEV_DATA defaults to ../shared/data/speech_commands_test12_v0.02 beside the checkout. Clips:
the training and validation lists (3,964), through each model's own front end; validation
accuracy on the validation list. Deterministic (no randomness; CPU float32).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from bifsmn.blocks import to_index
from bifsmn.data.frontends import feature_config_from_dict, feature_kind
from bifsmn.data.sources import split_inputs
from bifsmn.deploy.scoring import predict_paths
from bifsmn.train.checkpoint import model_from_checkpoint

REPO = Path(__file__).resolve().parents[3]


def main() -> None:
    dev = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        REPO.parent / "shared" / "data" / "speech_commands_test12_v0.02"
    torch.set_num_threads(1)
    print("| model | blocks | clips whose class differs (of all) | validation accuracy, "
          "deployed | validation accuracy, training graph |")
    print("|---|---|---|---|---|")
    for ckpt in sorted((REPO / "models").glob("*.pt")):
        model, meta = model_from_checkpoint(ckpt)
        cfg = feature_config_from_dict(meta.get("features"))
        if meta.get("binary", {}).get("method", "none") == "none" or \
                feature_kind(cfg) != "logmel32":
            continue
        parts = {s: split_inputs(dev, s, cfg)[:2] for s in ("training", "validation")}
        feats = torch.cat([parts[s][0] for s in parts])
        n_val = len(parts["validation"][1])
        y_val = parts["validation"][1]
        blocks = [8, 4, 2, 1]
        deployed = predict_paths(model, feats, blocks)
        model.eval()
        for b in blocks:
            with torch.no_grad():
                graph = torch.cat([model(feats[i:i + 512], path=to_index(b))
                                   for i in range(0, len(feats), 512)])
            d, g = deployed[b].argmax(1), graph.argmax(1)
            acc_d = (d[-n_val:] == y_val).sum().item() / n_val
            acc_g = (g[-n_val:] == y_val).sum().item() / n_val
            print(f"| {ckpt.stem} | {b} | {int((d != g).sum())} of {len(d)} | "
                  f"{100 * acc_d:.2f}% | {100 * acc_g:.2f}% |", flush=True)


if __name__ == "__main__":
    main()
