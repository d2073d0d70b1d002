// motive/motivator: the drive. The Motivator turns what runs published on the event bus into
// goals (motive/goals.h), and the curiosity timer into reflection goals. It reads the events
// from the image's state.db, where every bus event a run publishes is journaled
// (graph::Checkpointer::published_events), after its cursor; each event's goal change and the
// cursor's advance past it commit in one transaction, so an event stored just before a crash
// becomes its goal after the restart, exactly once, and never twice.
//
//   COGNITIVE_DISSONANCE, score above [motivator] dissonance_threshold -> a synthesis goal
//   TOOL_FAILED                                                        -> a capability goal
//   every curiosity_interval_seconds, when user episodes finished since -> a reflection goal
//
// Goals merge by theme instead of piling up (docs/formats/goals.md has the rules): a cause
// whose (kind, theme) has a queued or paused goal is folded into it. A goal born of a goal's
// run is one chain deeper; deeper than max_chain_depth it is recorded expired, never queued.
//
// The bus delivers an event to its subscribers before the journal entry holding it commits,
// so a poll woken by a bus event may not see it yet: poll again after the run's next step
// (or on a timer); nothing is lost either way.
//
// Not thread-safe: one thread (the autonomous loop) polls. The GoalStore it writes to is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "motive/goals.h"

namespace a4ps::graph {
class Checkpointer;
struct PublishedEvent;
}  // namespace a4ps::graph

namespace a4ps::motive {

// What one poll did to the goal queue, one entry per goal touched.
struct GoalChange {
  enum class What { kCreated, kMerged, kExpired };
  What what = What::kCreated;
  Goal goal;
  std::string why;  // e.g. "COGNITIVE_DISSONANCE 0.93 from run r-…"
};

std::string_view goal_change_name(GoalChange::What what);

struct PollResult {
  int events_read = 0;     // bus events looked at (of any topic)
  int events_ignored = 0;  // below the threshold, other topics, or malformed (logged)
  std::vector<GoalChange> changes;
};

class Motivator {
 public:
  // `log` (the image's checkpointer) and `goals` must outlive the Motivator.
  Motivator(const MotivatorConfig& config, graph::Checkpointer& log, GoalStore& goals);

  // Turns every event stored after the cursor into goal changes, then runs the curiosity timer
  // at `now_ms`. Throws a4ps::Error when state.db cannot be read or written; what committed
  // before the failure stays committed, and the next poll continues from there.
  PollResult poll(std::int64_t now_ms);

  // When the curiosity timer fires next (Unix ms), so a loop can sleep until then; 0 when it
  // has not started (the first poll starts it).
  std::int64_t next_curiosity_ms();

 private:
  void consume(const graph::PublishedEvent& event, PollResult& result);
  void curiosity(std::int64_t now_ms, PollResult& result);
  // Stores `goal` as a new goal, or merges it into the open goal of its theme, or records it
  // expired when it is too deep.
  GoalChange place(NewGoal goal, const std::string& why);
  nlohmann::json recent_episodes();

  // Constant after construction.
  const MotivatorConfig config_;
  graph::Checkpointer& log_;
  GoalStore& goals_;
};

// The theme of a text: its words lower-cased, punctuation dropped, hashed ("synthesis:" +
// 16 hex digits for a task). Exposed for tests and for front ends that show why goals merged.
std::string normalised_text(std::string_view text);
std::string theme_of(std::string_view prefix, std::string_view text);

}  // namespace a4ps::motive
