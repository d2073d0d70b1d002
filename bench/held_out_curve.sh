#!/usr/bin/env bash
# How the held-out loss moves with the epochs on the demo's dataset: copies the demo image
# (scripts/demo.sh makes it), trains ROBIN's latest dataset for EPOCHS epochs with A4PS's own
# trainer and the demo's other settings, and prints the training loss (mean per epoch) and the
# held-out loss after each epoch, plus an SVG plot of both.
# usage: bench/held_out_curve.sh A4PS_BIN DEMO_IMAGE OUT.svg [EPOCHS (default 12)]
set -euo pipefail
if (($# < 3)); then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
a4ps=$1
demo_image=$2
out=$3
epochs=${4:-12}
[[ -f "$demo_image/image.toml" ]] || { echo "$demo_image: no image there (run scripts/demo.sh)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=passive
cp -r "$demo_image" "$work/image"
rm -f "$work/image/lock"
sed -i "s/^epochs = .*/epochs = $epochs/" "$work/image/config.toml"
"$a4ps" --image "$work/image" evolve train robin --json >"$work/train.json"
python3 - "$work/train.json" "$out" "$epochs" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
out, epochs = sys.argv[2], int(sys.argv[3])
steps = report["step_losses"]
held = report["held_out_losses"]
per_epoch = len(steps) // epochs
train = [sum(steps[i * per_epoch:(i + 1) * per_epoch]) / per_epoch for i in range(epochs)]
print(f"ROBIN, dataset v{report['dataset_version']}: {per_epoch} training examples, {epochs} epochs")
print("epoch  training loss  held-out loss")
for e in range(epochs):
    print(f"{e + 1:5d}  {train[e]:13.4f}  {held[e]:13.4f}")
best = min(range(epochs), key=lambda e: held[e])
print(f"lowest held-out loss after epoch {best + 1}: {held[best]:.4f} (from {held[0]:.4f} after epoch 1)")
W, H, L, B, T, R = 640, 360, 60, 40, 20, 140
lo, hi = min(train + held), max(train + held)
pad = (hi - lo) * 0.05 or 0.1
lo, hi = lo - pad, hi + pad
x = lambda e: L + (W - L - R) * (e / max(epochs - 1, 1))
y = lambda v: T + (H - T - B) * (hi - v) / (hi - lo)
def path(values):
    return " ".join(("M" if i == 0 else "L") + f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="#444"/>',
       f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="#444"/>']
for i in range(5):
    v = lo + (hi - lo) * i / 4
    svg.append(f'<text x="{L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    svg.append(f'<line x1="{L}" y1="{y(v):.1f}" x2="{W - R}" y2="{y(v):.1f}" stroke="#eee"/>')
for e in range(epochs):
    svg.append(f'<text x="{x(e):.1f}" y="{H - B + 16}" text-anchor="middle">{e + 1}</text>')
svg.append(f'<text x="{(L + W - R) / 2}" y="{H - 6}" text-anchor="middle">epoch</text>')
svg.append(f'<text x="14" y="{(T + H - B) / 2}" transform="rotate(-90 14 {(T + H - B) / 2})" text-anchor="middle">mean loss per assistant token (nats)</text>')
svg.append(f'<path d="{path(train)}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
svg.append(f'<path d="{path(held)}" fill="none" stroke="#d62728" stroke-width="2" stroke-dasharray="5,3"/>')
for i, v in enumerate(held):
    svg.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="#d62728"/>')
svg.append(f'<text x="{W - R + 10}" y="{T + 14}" fill="#1f77b4">training</text>')
svg.append(f'<text x="{W - R + 10}" y="{T + 32}" fill="#d62728">held out</text>')
svg.append("</svg>")
open(out, "w").write("\n".join(svg) + "\n")
print(f"plot: {out}")
PY
