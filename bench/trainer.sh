#!/usr/bin/env bash
# A4PS's own LoRA trainer (`a4ps evolve train`) against llama.cpp's full-F32 trainer
# (`llama-finetune`, examples/training) on the same generated F32 llama model, the same
# sequence length, the same number of optimizer steps and the same thread count, alternating
# the two for ROUNDS rounds in one invocation: training tokens/s and peak RSS of each, and
# ours ÷ theirs (medians, min–max).
# usage: bench/trainer.sh A4PS_BIN LLAMA_FINETUNE_BIN [ROUNDS] [STEPS] [SEQ] [THREADS]
#        (defaults 3, 24, 256 and 2; e.g. bench/trainer.sh build/bin/a4ps build/bin/llama-finetune)
set -euo pipefail
if (($# < 2)); then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
a4ps=$1
finetune=$2
rounds=${3:-3}
steps=${4:-24}
seq=${5:-256}
threads=${6:-2}
if ((seq % 256)); then
  # llama.cpp rounds a context up to a multiple of 256, and llama-finetune then cuts datapoints
  # of that length but trains on only the model's trained context of each.
  echo "SEQ must be a multiple of 256 (llama.cpp pads its context to one)" >&2
  exit 2
fi
# llama.cpp's threads wait at a barrier after every operation; spinning there starves the
# partner thread on a shared machine (see scripts/lib.sh). Both tools get the same setting.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The model: llama architecture, F32, phi-3 tokenizer (vocab 32064). Its trained context is
# the sequence length: llama-finetune walks llama_model_n_ctx_train() positions per datapoint,
# so it must equal its -c.
"$a4ps" models mktest "$work/model.gguf" --embd 256 --layers 4 --ff 768 --heads 8 --kv-heads 8 \
  --ctx "$seq" --type f32 --seed 7 >"$work/mktest.log" 2>&1 ||
  { cat "$work/mktest.log" >&2; exit 1; }

python3 - "$work" "$a4ps" "$finetune" "$rounds" "$steps" "$seq" "$threads" <<'PY'
import json, os, random, statistics, subprocess, sys, time

work, a4ps, finetune = sys.argv[1:4]
rounds, steps, seq, threads = map(int, sys.argv[4:8])
model = f"{work}/model.gguf"

# A stream of common English words, each one token with its leading space in the phi-3
# vocabulary (the calibration's slope checks it).
vocab = ("the of and to in is that for it with as was on be at by this had not are but from or "
         "have an they which one you were her all she there would their we him been has when who "
         "will more no if out so said what up its about into than them can only other new some "
         "could time these two may then do first any my now such like our over man me even most "
         "made after also did many before must through back years where much your way well down "
         "should because each just those people how too little state good very make world still "
         "own see men work long get here between both life being under never day same another "
         "know while last might us great old year off come since against go came right used take "
         "three").split()
rng = random.Random(7)
stream = [rng.choice(vocab) for _ in range(steps * seq * 2 + 4 * seq)]

def example(words):
    return json.dumps({"messages": [
        {"role": "system", "content": "You are a helper."},
        {"role": "user", "content": "Continue the text."},
        {"role": "assistant", "content": " ".join(words)}]}) + "\n"

def ours_cmd(data, rss):
    return ["/usr/bin/time", "-f", "%M", "-o", rss, a4ps, "evolve", "train", "--base", model,
            "--data", data, "--out", f"{work}/adapter.gguf", "--checkpoint", f"{work}/adapter.ckpt",
            "--epochs", "1", "--lr", "1e-3", "--seed", "1", "--max-tokens", str(seq),
            "--threads", str(threads), "--json"]

def run_ours(data):
    rss = f"{work}/rss"
    t0 = time.monotonic()
    proc = subprocess.run(ours_cmd(data, rss), capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit("a4ps evolve train failed:\n" + proc.stderr[-3000:])
    report = json.loads(proc.stdout)
    return {"steps": report["steps"], "tokens": report["tokens"], "seconds": report["seconds"],
            "wall": wall, "rss_kib": int(open(rss).read().split()[-1])}

# Calibration: the tokens of one example of W words, through the model's chat template, for
# two values of W; a line through them gives the words for an example of at most SEQ tokens.
points = []
for w in (seq // 4, seq // 2):
    path = f"{work}/calibrate.jsonl"
    open(path, "w").write(example(stream[:w]))
    points.append((w, run_ours(path)["tokens"]))
(w1, t1), (w2, t2) = points
slope = (t2 - t1) / (w2 - w1)
template = t1 - slope * w1
words = int((seq - template) / slope)
if abs(slope - 1) > 1e-9:
    print(f"note: {slope:.3f} tokens per word (expected 1); token counts are approximate")

data = f"{work}/data.jsonl"
with open(data, "w") as f:
    for i in range(steps):
        f.write(example(stream[i * words:(i + 1) * words]))
# llama-finetune: datapoints of SEQ tokens with stride SEQ/2, (n_tokens - SEQ - 1) / stride of
# them, so this text (BOS + one token per word) gives STEPS datapoints.
text = f"{work}/text.txt"
open(text, "w").write(" ".join(stream[:steps * (seq // 2) + seq + 8]))

def run_theirs():
    rss = f"{work}/rss"
    cmd = ["/usr/bin/time", "-f", "%M", "-o", rss, finetune, "-m", model, "-f", text,
           "-c", str(seq), "-b", str(seq), "-ub", str(seq), "-epochs", "1", "-val-split", "0",
           "-lr", "1e-5", "-t", str(threads), "-o", f"{work}/finetuned.gguf"]
    # Its training time: from the arrival of its "-optimizer" line (logged just before
    # llama_opt_init allocates gradients and AdamW moments) to the arrival of its last
    # progress-bar update (written and flushed after the last datapoint's step), timestamped
    # here as they arrive. Model load, tokenization and saving the model fall outside it.
    t0 = time.monotonic()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    buf, t_opt, t_last = b"", None, None
    while True:
        chunk = os.read(child.stdout.fileno(), 65536)
        now = time.monotonic()
        if not chunk:
            break
        buf += chunk
        tail = buf[-len(chunk) - 64:]
        if t_opt is None and b"-optimizer " in buf:
            t_opt = now
        if b"] data=" in tail:
            t_last = now
    if child.wait() != 0 or t_opt is None or t_last is None:
        sys.exit("llama-finetune failed:\n" + buf.decode(errors="replace")[-3000:])
    wall = time.monotonic() - t0
    last = buf.decode(errors="replace").rsplit("data=", 1)[1].split()[0]  # "0000024/0000024"
    done, total = map(int, last.split("/"))
    if done != total:
        sys.exit(f"llama-finetune stopped at datapoint {done} of {total}")
    return {"steps": total, "tokens": total * seq, "seconds": t_last - t_opt, "wall": wall,
            "rss_kib": int(open(rss).read().split()[-1])}

def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])

load_before = load()
results = {"ours": [], "theirs": []}
for r in range(rounds):
    order = ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours")
    for who in order:
        results[who].append(run_ours(data) if who == "ours" else run_theirs())
        if results[who][-1]["steps"] != steps:
            print(f"note: {who} took {results[who][-1]['steps']} steps, not {steps}")

name = {"ours": "a4ps evolve train (LoRA)", "theirs": "llama-finetune (full F32)"}
per_step = results["ours"][0]["tokens"] / results["ours"][0]["steps"]
print(f"model: llama, embd 256, 4 layers, ff 768, 8 heads, vocab 32064, F32 "
      f"({os.path.getsize(model) / 2**20:.0f} MiB); {threads} threads, "
      f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}")
print(f"a4ps: {steps} examples of {per_step:.0f} tokens (~{slope * words:.0f} of them the "
      f"assistant's, the only loss rows), a rank-8 LoRA on attn_q/k/v/output")
print(f"llama-finetune: datapoints of {seq} tokens (stride {seq // 2}, no validation split), "
      f"a loss on every token, all weights trained")
print("train s: a4ps's own `seconds`; llama-finetune's from its -optimizer line to its last "
      "progress update,\n  as they arrive (both without the model's load and "
      "llama-finetune's save)")
print()
print(f"  {'round':<6}{'trainer':<28}{'steps':>6}{'tokens':>8}{'train s':>9}{'wall s':>8}"
      f"{'tokens/s':>10}{'max RSS MiB':>13}")
for r in range(rounds):
    for who in ("ours", "theirs"):
        x = results[who][r]
        print(f"  {r + 1:<6}{name[who]:<28}{x['steps']:>6}{x['tokens']:>8}{x['seconds']:>9.2f}"
              f"{x['wall']:>8.2f}{x['tokens'] / x['seconds']:>10.0f}{x['rss_kib'] / 1024:>13.1f}")

def spread(values, fmt):
    return (f"{format(statistics.median(values), fmt)} "
            f"({format(min(values), fmt)}–{format(max(values), fmt)})")

tps = {w: [x["tokens"] / x["seconds"] for x in results[w]] for w in results}
rss = {w: [x["rss_kib"] / 1024 for x in results[w]] for w in results}
print()
print(f"medians (min–max) over {rounds} rounds:")
for who in ("ours", "theirs"):
    print(f"  {name[who]:<28} {spread(tps[who], '.0f'):>20} tokens/s   "
          f"{spread(rss[who], '.1f'):>22} MiB max RSS")
for what, values in (("tokens/s", tps), ("max RSS", rss)):
    ratio = statistics.median(values["ours"]) / statistics.median(values["theirs"])
    rounds_ratio = [a / b for a, b in zip(values["ours"], values["theirs"])]
    print(f"{what + ',':<9} ours ÷ llama-finetune: {ratio:.2f} (of the medians); per round "
          f"{spread(rounds_ratio, '.2f')}")
print("(the goal: a tokens/s ratio of at least 1.0 with a max RSS ratio well under 1.0; the two\n"
      " runs of a round are neighbours in time, so its ratio is the one that load on the machine\n"
      " disturbs least)")
print(f"load average before: {load_before}, after: {load()}")
PY
