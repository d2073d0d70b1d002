#!/usr/bin/env bash
# The delay from a dissonance event to its goal: the Motivator's poll that queues the goal,
# against journaling the event (what the run's step pays), on state.db on disk with a journal
# backlog before the cursor.
# usage: bench/goal_delay.sh [EVENTS] [BACKLOG]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
ensure_packages
build_targets a4ps_bench_goal_delay
"$A4PS_BUILD_DIR/bin/a4ps_bench_goal_delay" "$A4PS_BUILD_DIR/bench-goal-delay" "${1:-200}" "${2:-20000}"
