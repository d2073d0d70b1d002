#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds a4ps, generates four tiny
# persona models (random weights, real phi-3 tokenizer; distinct seeds, so the ModelManager
# really swaps them) and an embedding model, creates a demo image, and runs the blueprint's
# seeding task (its section 4.1) through the whole workflow: ALFRED routes, BABS researches the
# seeding document, BRICK and ROBIN argue a Tree of Thoughts and a dialogue, ALFRED answers and
# judges, and the dissonance is measured. The models' words are gibberish by nature: see
# "Using real models" in the README to point the image's config at real GGUF files.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_packages
ensure_web_deps
build_targets a4ps
a4ps="$A4PS_BUILD_DIR/bin/a4ps"
demo="$A4PS_ROOT/demo"
image="$demo/image"
mkdir -p "$demo/models"

make_model() {  # NAME SEED [--embedding]
  local model="$demo/models/$1.gguf"
  [[ -f "$model" ]] || "$a4ps" models mktest "$model" --seed "$2" --layers 4 --embd 256 \
    --heads 8 --ff 768 --type f16 "${@:3}"
}
seed=11
for persona in alfred babs brick robin; do
  make_model "$persona" "$seed"
  seed=$((seed + 1))
done
make_model embedding 15 --embedding

if [[ ! -f "$image/image.toml" ]]; then
  say "creating the demo image in $image"
  "$a4ps" init "$image"
  # Each persona on its own model; limits small enough for a demo on a laptop CPU.
  cat >"$image/config.toml" <<TOML
# Demo image: each persona on its own generated test model (see scripts/demo.sh).
[models]
alfred = "$demo/models/alfred.gguf"
babs = "$demo/models/babs.gguf"
brick = "$demo/models/brick.gguf"
robin = "$demo/models/robin.gguf"
embedding = "$demo/models/embedding.gguf"

[inference]
context_size = 2048

[socratic]
breadth = 2
beam = 2
max_depth = 2
max_turns = 1
TOML
  # Short turns: random weights have nothing to say at length.
  sed -i 's/^max_tokens = .*/max_tokens = 48/' "$image/codex/persona_codex.toml"
fi
# The strategic loop's settings for models that speak gibberish: every judged part counts
# (random judges quote nothing real), a dataset from the first run on, a short training run.
# Added to demo images made before the loop existed, too.
if ! grep -q '^\[evolve\]' "$image/config.toml"; then
  cat >>"$image/config.toml" <<TOML

[evolve]
golden_threshold = 0.0
require_evidence = false
min_examples = 2
held_out_fraction = 0.3
lora_targets = ["all"]
epochs = 3
learning_rate = 0.003
max_tokens = 4096
TOML
fi

task="Design the core user onboarding protocol for the Commonwealth's 'Community Resource \
Atlas.' The protocol must be maximally efficient and data-driven to ensure rapid user adoption \
(a BRICK preference), but it must also be exceptionally gentle, welcoming, and prioritize the \
user's emotional state of feeling safe and included over speed (a ROBIN preference)."
say "the seeding task through ALFRED, BABS, BRICK and ROBIN (demo models speak gibberish by design)"
"$a4ps" --image "$image" run "$task" --doc "$A4PS_ROOT/data/demo/seeding-task.md"
say "the run is in the image: $a4ps --image $image threads list | runs list | threads show ID"

say "the strategic loop, once: ALFRED judges the run, ROBIN's golden turns become a dataset, A4PS's own trainer makes a LoRA adapter, and the gate decides"
"$a4ps" --image "$image" evolve judge
"$a4ps" --image "$image" evolve dataset robin
"$a4ps" --image "$image" evolve train robin
version=$("$a4ps" --image "$image" evolve status robin --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["adapters"][0]["version"])')
"$a4ps" --image "$image" evolve adopt robin "$version"
say "what the loop keeps: $a4ps --image $image evolve status robin (and the Adapters panel of the browser UI); $a4ps --image $image evolve rollback robin undoes an adoption"
