// server/api_runtime: the API over a Runtime, as `a4ps serve` serves it: the image's persona
// workflow, checkpointer, memory, models, codex and tools, and the options [server] sets.
#pragma once

#include "core/config.h"
#include "runtime/runtime.h"
#include "server/api_server.h"

namespace a4ps::server {

// What the API runs over `runtime`: the persona workflow (a task and its documents as its
// input, ALFRED's answer as the answer), the runtime's checkpointer, memory, models, codex and
// tool registry, and /health's facts. Makes every part the API uses now (loading no model), so
// that the server's threads share parts that are already made. `runtime` must outlive the
// server. Throws what making a part throws (a bad codex, an unusable [tools] search_url).
ApiDeps api_deps(runtime::Runtime& runtime);

// ApiOptions from [server]: host, port, token, body limit and CORS origins.
ApiOptions api_options(const ServerConfig& config);

}  // namespace a4ps::server
