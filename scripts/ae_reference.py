#!/usr/bin/env python3
"""PyTorch reference for the DCASE autoencoder baseline (REFERENCE-SPECS §3), trained on the
640-dim vectors that `hark features --kind dcase640` exports, so that hark's own training can be
compared with the reference recipe on exactly the same inputs.

    hark features --kind dcase640 <dataset> --out <features>
    python3 scripts/ae_reference.py --features <features> --out <csv folder> [--epochs 100]

Per machine type: Dense 640-128-128-128-128-8-128-128-128-128-640, every layer but the last
Dense -> BatchNorm1d(momentum 0.01, eps 1e-3) -> ReLU, MSE, Adam lr 1e-3, shuffled batches of 512.
A clip's score is the mean squared reconstruction error over its vectors (eval mode). Writes the
challenge's anomaly_score CSVs (which `hark evaluate` reads) and prints AUC/pAUC per section and
the official score (harmonic mean of every AUC_source, AUC_target and pAUC, sklearn's
max_fpr=0.1 pAUC), computed here with scikit-learn independently of hark.

Needs: numpy, torch, scikit-learn (scipy for the harmonic mean is not needed).
"""

import argparse
import csv
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

NAME = re.compile(r"section_(\d+)_(source|target)_test_(normal|anomaly)_")


def block(inputs, outputs):
    return [
        torch.nn.Linear(inputs, outputs),
        torch.nn.BatchNorm1d(outputs, momentum=0.01, eps=1e-3),
        torch.nn.ReLU(),
    ]


class DenseAutoencoder(torch.nn.Module):
    def __init__(self, dims=640):
        super().__init__()
        sizes = [dims, 128, 128, 128, 128, 8]
        enc = []
        for a, b in zip(sizes, sizes[1:]):
            enc += block(a, b)
        dec = []
        back = sizes[::-1]
        for a, b in zip(back[:-1], back[1:-1]):
            dec += block(a, b)
        dec.append(torch.nn.Linear(128, dims))
        self.encoder = torch.nn.Sequential(*enc)
        self.decoder = torch.nn.Sequential(*dec)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def load_split(machine_dir, split):
    files = sorted((machine_dir / split).glob("*.npy"))
    return files, [np.load(f).astype(np.float32) for f in files]


def train(vectors, epochs, batch_size, lr, seed):
    torch.manual_seed(seed)
    model = DenseAutoencoder(vectors.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    data = torch.from_numpy(vectors)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(data), batch_size):
            x = data[order[start : start + batch_size]]
            if len(x) < 2:  # BatchNorm needs two rows
                continue
            loss = torch.nn.functional.mse_loss(model(x), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        if epoch == 0 or (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            print(f"  epoch {epoch + 1}/{epochs}: loss {total / max(batches, 1):.4f}", flush=True)
    return model


def metrics(rows):
    """rows: (section, domain, is_anomaly, score) -> per-section AUCs and pAUC."""
    out = {}
    for section in sorted({r[0] for r in rows}):
        sec = [r for r in rows if r[0] == section]
        anomalies = [r[3] for r in sec if r[2]]
        values = {}
        for domain in ("source", "target"):
            normals = [r[3] for r in sec if r[1] == domain and not r[2]]
            if normals and anomalies:
                y = [0] * len(normals) + [1] * len(anomalies)
                values[f"AUC_{domain}"] = roc_auc_score(y, normals + anomalies)
        y = [int(r[2]) for r in sec]
        values["pAUC"] = roc_auc_score(y, [r[3] for r in sec], max_fpr=0.1)
        out[section] = values
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=Path, required=True, help="hark features output root")
    parser.add_argument("--out", type=Path, required=True, help="folder for the CSVs")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    machines = sorted(p for p in args.features.iterdir() if (p / "train").is_dir())
    if not machines:
        sys.exit(f"no <machine>/train/*.npy under {args.features}")
    args.out.mkdir(parents=True, exist_ok=True)
    all_values = []
    started = time.time()
    for machine_dir in machines:
        machine = machine_dir.name
        _, train_clips = load_split(machine_dir, "train")
        vectors = np.concatenate(train_clips)
        print(f"{machine}: {len(train_clips)} clips, {len(vectors)} vectors", flush=True)
        model = train(vectors, args.epochs, args.batch_size, args.lr, args.seed)
        model.eval()
        files, test_clips = load_split(machine_dir, "test")
        rows = []
        by_section = {}
        with torch.no_grad():
            for f, clip in zip(files, test_clips):
                x = torch.from_numpy(clip)
                score = torch.mean((model(x) - x) ** 2).item()
                m = NAME.match(f.name)
                if m is None:
                    sys.exit(f"{f}: not a labelled test clip name")
                section = int(m.group(1))
                rows.append((section, m.group(2), m.group(3) == "anomaly", score))
                by_section.setdefault(section, []).append((f.with_suffix(".wav").name, score))
        for section, scores in by_section.items():
            path = args.out / f"anomaly_score_{machine}_section_{section:02d}_test.csv"
            with open(path, "w", newline="") as handle:
                csv.writer(handle).writerows(scores)
        for section, values in metrics(rows).items():
            print(
                f"  section {section:02d}: "
                + "  ".join(f"{k} {v:.4f}" for k, v in sorted(values.items())),
                flush=True,
            )
            all_values.extend(values.values())
    eps = 1e-12
    official = len(all_values) / sum(1.0 / max(v, eps) for v in all_values)
    print(f"official score (harmonic mean of {len(all_values)} values): {official:.4f}")
    print(f"time: {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
