#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds a4ps, generates four tiny
# demo models (random weights, real phi-3 tokenizer; distinct seeds, one per persona) and a
# demo config, then streams BRICK's answer to the blueprint's seeding task through the
# embedded llama.cpp. The models' words are gibberish by nature: see "Using real models" in
# the README to point the config at real GGUF files.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_packages
build_targets a4ps
a4ps="$A4PS_BUILD_DIR/bin/a4ps"
demo="$A4PS_ROOT/demo"
mkdir -p "$demo/models"

seed=11
for persona in alfred babs brick robin; do
  model="$demo/models/$persona.gguf"
  if [[ ! -f "$model" ]]; then
    "$a4ps" models mktest "$model" --seed "$seed" --layers 4 --embd 256 --heads 8 --ff 768 \
      --type f16
  fi
  seed=$((seed + 1))
done
if [[ ! -f "$demo/config.toml" ]]; then
  cat >"$demo/config.toml" <<TOML
# Demo configuration: each persona on its own generated test model.
[models]
alfred = "models/alfred.gguf"
babs = "models/babs.gguf"
brick = "models/brick.gguf"
robin = "models/robin.gguf"
embedding = "models/babs.gguf"

[inference]
context_size = 2048
TOML
fi

task="Design the core user onboarding protocol for the Commonwealth's 'Community Resource \
Atlas.' The protocol must be maximally efficient and data-driven to ensure rapid user adoption, \
but it must also be exceptionally gentle, welcoming, and prioritize the user's emotional state \
of feeling safe and included over speed."
say "BRICK answers the seeding task (demo models speak gibberish by design)"
"$a4ps" --config "$demo/config.toml" generate --persona BRICK --max-tokens 96 --seed 42 "$task"
