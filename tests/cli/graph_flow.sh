#!/usr/bin/env bash
# The graph commands as a user runs them, in order, on a fresh image: a run that stops at an
# interrupt, inspecting it, bad answers refused, answering it, forking from an earlier
# checkpoint with a changed state, and reading a run's event stream from a sequence number.
# usage: graph_flow.sh A4PS_BIN WORK_DIR
set -u
a4ps=$1
work=$2
rm -rf "$work" && mkdir -p "$work"
export A4PS_IMAGE="$work/image"
failures=0

source "$(dirname "$0")/lib.sh"

step 0 "created image" init
step 0 "no threads yet" threads list
step 0 "interrupted after 3 steps \(checkpoint 3\)" graph check --thread t1
step 0 "t1 +engine-check +4 +r-[0-9a-f]+ +interrupted" threads list
step 0 "waiting for interrupt 3:approve.0" threads show t1
step 0 "^1 +1 +r-[0-9a-f]+ +step +plan +count_words,fingerprint,measure" threads history t1
step 0 '"writers": \[' threads history t1 --json
step 0 "t1 +interrupted +3" runs list --status interrupted
step 7 "is busy|waiting for a value for interrupt 3:approve.0" resume t1
step 2 "--value tru: not valid JSON" resume t1 --value tru
step 2 "no pending interrupt 9:nope.0" resume t1 --interrupt 9:nope.0 --value true
step 7 "unfinished work at checkpoint 3" graph check --thread t1
step 0 '"status": "done"' resume t1 --value true --json
step 0 '"approved"' threads show t1
step 7 "nothing to resume" resume t1
step 3 "no such thread" threads show nope
step 3 "no checkpoint 99" threads fork t1 --checkpoint 99

# Time travel: back to before the join, with another task.
step 0 "forked t1 at checkpoint 2 into thread t2" \
  threads fork t1 --checkpoint 2 --update '{"task": "welcome newcomers gently"}' --as t2
step 2 "names channel nope" threads fork t1 --update '{"nope": 1}'
step 0 "waiting for interrupt 1:approve.0" resume t2
step 0 '"task": "welcome newcomers gently"' resume t2 --value false --json
step 0 '"task": "check the graph engine"' threads show t1 --json
run=$("$a4ps" runs list --thread t2 --json | grep -Eo '"id": "r-[0-9a-f]+"' | head -1 | grep -Eo 'r-[0-9a-f]+')
step 0 "^7 +run_finished .*interrupted" runs show "$run" --after 6
step 0 "^8 +run_started .*resumed" runs show "$run" --after 6
step 0 '"seq": 1,' runs show "$run" --events --json

finish
