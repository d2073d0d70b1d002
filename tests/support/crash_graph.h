// A multi-step graph for the crash test: a plan, a three-way fan-out whose nodes each make two
// "model calls", a join, then a chain of refinements. Every real call appends "KEY PID" to a
// log file before returning, so the test can tell which calls ran in which process.
#pragma once

#include <filesystem>

#include "graph/state_graph.h"

namespace a4ps::testing {

graph::CompiledGraph crash_test_graph(const std::filesystem::path& call_log);

}  // namespace a4ps::testing
