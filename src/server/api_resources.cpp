// The API's resource routes beside runs: memory, models, the codex, and /metrics.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/text.h"
#include "memory/ingest.h"
#include "server/api_internal.h"

namespace a4ps::server {
namespace {

using nlohmann::json;

void send_json(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

memory::MemoryStore& memory_of(ApiServer::Impl& s) {
  if (s.deps.memory == nullptr) {
    throw Error(ErrorCode::kUnavailable, "this server has no episodic memory");
  }
  return *s.deps.memory;
}

int int_param(const httplib::Request& req, const std::string& name, int fallback, int most) {
  const std::string text = req.get_param_value(name);
  if (text.empty()) return fallback;
  try {
    const int value = std::stoi(text);
    if (value >= 1 && value <= most) return value;
  } catch (const std::exception&) {
  }
  throw_invalid_argument(name + "=" + text + ": expected a whole number from 1 to " +
                         std::to_string(most));
}

void search_memory(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  const std::string query = c.request.get_param_value("q");
  memory::SearchOptions options;
  options.k = int_param(c.request, "k", 5, 100);
  options.namespace_prefix = c.request.get_param_value("namespace");
  json hits = json::array();
  for (const memory::Hit& h : memory_of(s).search(query, options))
    hits.push_back(memory::hit_json(h));
  send_json(res, {{"hits", hits}});
}

void add_memory(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  memory::NewMemory m;
  m.text = c.body["text"];
  m.namespace_path = c.body.value("namespace", "");
  m.source_kind = c.body.value("source_kind", "note");
  m.source = c.body.value("source", "");
  m.importance = c.body.value("importance", 0.5);
  if (c.body.contains("metadata")) m.metadata = c.body["metadata"];
  const memory::AddResult r = memory_of(s).add(m);
  send_json(res, {{"id", r.id}, {"duplicate", r.duplicate}}, r.duplicate ? 200 : 201);
}

// A document's text into memory, chunked like `a4ps memory import` (plain text, Markdown or
// HTML; PDF through the CLI, which reads files).
void import_memory(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  const std::string name = c.body["name"];
  const std::string format = c.body.value("format", "text");
  const std::string content = c.body["content"];
  const std::string text =
      format == "html" ? valid_utf8(memory::html_to_text(content, name)) : valid_utf8(content);
  std::string stem = std::filesystem::path(name).stem().string();
  for (char& ch : stem) {
    if (std::isalnum(static_cast<unsigned char>(ch)) == 0 && ch != '.' && ch != '_' && ch != '-') {
      ch = '-';
    }
  }
  const std::vector<memory::Chunk> chunks = memory::chunk_text(text);
  if (chunks.empty()) throw_invalid_argument(name + ": no text to import");
  std::vector<memory::NewMemory> memories;
  for (size_t i = 0; i < chunks.size(); ++i) {
    memory::NewMemory m;
    m.text = chunks[i].text;
    m.namespace_path = "docs/" + (stem.empty() ? std::string("document") : stem);
    m.source_kind = "document";
    m.source = name;
    m.metadata = {{"chunk", i + 1}, {"chunks", chunks.size()}, {"offset", chunks[i].offset}};
    memories.push_back(std::move(m));
  }
  const auto results = memory_of(s).add_many(memories);
  const auto duplicates = static_cast<std::size_t>(std::count_if(
      results.begin(), results.end(), [](const memory::AddResult& r) { return r.duplicate; }));
  send_json(res,
            {{"namespace", memories.front().namespace_path},
             {"chunks", results.size()},
             {"new", results.size() - duplicates},
             {"duplicates", duplicates}},
            201);
}

void forget_memory(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  std::int64_t id = 0;
  try {
    id = std::stoll(c.params["id"]);
  } catch (const std::exception&) {
    throw_invalid_argument("memory id \"" + c.params["id"] + "\": expected a number");
  }
  memory_of(s).forget(id);
  send_json(res, {{"forgotten", id}});
}

void memory_stats(ApiServer::Impl& s, httplib::Response& res) {
  send_json(res, memory::stats_json(memory_of(s).stats()));
}

// OpenAI's model list (a4ps and a4ps-PERSONA), with the budget and each model's figures as
// extension fields.
void list_models(ApiServer::Impl& s, httplib::Response& res) {
  json data = json::array({{{"id", "a4ps"}, {"object", "model"}, {"owned_by", "a4ps"}}});
  if (s.deps.codex != nullptr) {
    for (const Persona& p : s.deps.codex->personas()) {
      data.push_back({{"id", "a4ps-" + p.id}, {"object", "model"}, {"owned_by", "a4ps"}});
    }
  }
  json out = {{"object", "list"}, {"data", data}};
  if (s.deps.models != nullptr) {
    const llm::ModelManager& m = *s.deps.models;
    out["budget"] = {{"bytes", m.options().budget_bytes},
                     {"resident_bytes", m.resident_bytes()},
                     {"peak_resident_bytes", m.peak_resident_bytes()}};
    json models = json::object();
    for (const auto& [name, st] : m.stats()) {
      models[name] = {{"resident", st.resident},
                      {"estimated_bytes", st.estimated_bytes},
                      {"actual_bytes", st.actual_bytes},
                      {"loads", st.loads},
                      {"evictions", st.evictions},
                      {"requests", st.requests},
                      {"generated_tokens", st.generated_tokens},
                      {"decode_tokens_per_second", st.decode_tokens_per_second()}};
    }
    out["models"] = models;
  }
  send_json(res, out);
}

void show_codex(ApiServer::Impl& s, httplib::Response& res) {
  if (s.deps.codex == nullptr) throw Error(ErrorCode::kUnavailable, "this server has no codex");
  json personas = json::array();
  for (const Persona& p : s.deps.codex->personas()) {
    personas.push_back({{"id", p.id},
                        {"name", p.name},
                        {"role", p.role},
                        {"model", p.model},
                        {"system_prompt", p.system_prompt},
                        {"core_imperatives", p.core_imperatives},
                        {"max_tokens", p.max_tokens}});
  }
  send_json(res, {{"personas", personas}});
}

const forge::ToolRegistry& tools_of(const ApiServer::Impl& s) {
  if (s.deps.tools == nullptr) {
    throw Error(ErrorCode::kUnavailable, "this server has no tool registry");
  }
  return *s.deps.tools;
}

void list_tools(ApiServer::Impl& s, httplib::Response& res) {
  json tools = json::array();
  for (const forge::ToolVersion& v : tools_of(s).list()) tools.push_back(v.to_json());
  send_json(res, {{"tools", tools}});
}

void show_tool(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  send_json(res, tools_of(s).describe(c.params["name"]));
}

std::string label_value(const std::string& v) {
  std::string out;
  for (const char ch : v) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch == '\n' ? ' ' : ch;
  }
  return out;
}

// Prometheus text format, version 0.0.4.
void metrics(ApiServer::Impl& s, httplib::Response& res) {
  std::string out =
      "# HELP a4ps_http_requests_total HTTP requests by route and status.\n"
      "# TYPE a4ps_http_requests_total counter\n";
  std::string latency =
      "# HELP a4ps_http_request_seconds Time to answer, by route (streams: to their first "
      "byte).\n# TYPE a4ps_http_request_seconds summary\n";
  {
    std::lock_guard lock(s.metrics_mu);
    for (const auto& [key, count] : s.requests) {
      out += "a4ps_http_requests_total{route=\"" + label_value(key.first) + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
    }
    for (const auto& [route, t] : s.latency) {
      latency += "a4ps_http_request_seconds_sum{route=\"" + label_value(route) + "\"} " +
                 std::to_string(t.first) + "\n";
      latency += "a4ps_http_request_seconds_count{route=\"" + label_value(route) + "\"} " +
                 std::to_string(t.second) + "\n";
    }
  }
  out += latency;
  std::map<std::string, int> by_status;
  for (const graph::RunInfo& r : s.deps.checkpointer->list_runs({}, {}, 1'000'000)) {
    ++by_status[r.status];
  }
  out += "# HELP a4ps_runs Runs in the image by status.\n# TYPE a4ps_runs gauge\n";
  for (const auto& [status, n] : by_status) {
    out += "a4ps_runs{status=\"" + status + "\"} " + std::to_string(n) + "\n";
  }
  {
    std::lock_guard lock(s.mu);
    std::size_t running = 0;
    for (const auto& slot : s.slots) running += slot->finished ? 0U : 1U;
    out +=
        "# HELP a4ps_runs_in_flight Runs this server is executing.\n"
        "# TYPE a4ps_runs_in_flight gauge\na4ps_runs_in_flight " +
        std::to_string(running) + "\n";
  }
  out += goal_metrics(s);
  if (s.deps.models != nullptr) {
    out += "# HELP a4ps_model_loads_total Model loads.\n# TYPE a4ps_model_loads_total counter\n";
    std::string evictions =
        "# HELP a4ps_model_evictions_total Model evictions.\n"
        "# TYPE a4ps_model_evictions_total counter\n";
    std::string speed =
        "# HELP a4ps_model_decode_tokens_per_second Mean decode speed.\n"
        "# TYPE a4ps_model_decode_tokens_per_second gauge\n";
    for (const auto& [name, st] : s.deps.models->stats()) {
      const std::string label = "{model=\"" + label_value(name) + "\"} ";
      out += "a4ps_model_loads_total" + label + std::to_string(st.loads) + "\n";
      evictions += "a4ps_model_evictions_total" + label + std::to_string(st.evictions) + "\n";
      speed += "a4ps_model_decode_tokens_per_second" + label +
               std::to_string(st.decode_tokens_per_second()) + "\n";
    }
    out += evictions + speed;
    out +=
        "# HELP a4ps_model_queue_depth Requests waiting for local inference.\n"
        "# TYPE a4ps_model_queue_depth gauge\na4ps_model_queue_depth " +
        std::to_string(s.deps.models->queue_depth()) + "\n";
    out +=
        "# HELP a4ps_model_resident_bytes Bytes of resident models.\n"
        "# TYPE a4ps_model_resident_bytes gauge\na4ps_model_resident_bytes " +
        std::to_string(s.deps.models->resident_bytes()) + "\n";
  }
  res.set_content(out, "text/plain; version=0.0.4");
}

// Swagger UI over /openapi.json, from the npm package swagger-ui-dist served locally.
void docs_page(ApiServer::Impl& s, httplib::Response& res) {
  const auto bundle =
      s.options.web_dir / "node_modules" / "swagger-ui-dist" / "swagger-ui-bundle.js";
  if (s.options.web_dir.empty() || !std::filesystem::exists(bundle)) {
    throw Error(ErrorCode::kUnavailable,
                "Swagger UI is not installed: run npm ci --prefix web in the source tree (the "
                "README's commands do), or set A4PS_WEB_DIR to a folder holding "
                "node_modules/swagger-ui-dist; /openapi.json works without it");
  }
  res.set_content(R"html(<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>A4PS API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui", deepLinking: true});
  </script>
</body>
</html>
)html",
                  "text/html; charset=utf-8");
}

// The browser UI (web/ui: plain HTML, CSS and JavaScript modules; its assets under /ui/).
void ui_page(ApiServer::Impl& s, httplib::Response& res) {
  const auto page = s.options.web_dir / "ui" / "index.html";
  std::ifstream in(page, std::ios::binary);
  if (s.options.web_dir.empty() || !in) {
    throw Error(ErrorCode::kUnavailable,
                "the browser UI is not installed: set A4PS_WEB_DIR to the web/ folder of the "
                "source tree; the API works without it (GET /docs, /openapi.json)");
  }
  std::ostringstream html;
  html << in.rdbuf();
  res.set_content(html.str(), "text/html; charset=utf-8");
}

// The site icon browsers ask for at /favicon.ico: web/ui/favicon.svg (an SVG served under the
// .ico name is what browsers take, by its Content-Type).
void favicon(ApiServer::Impl& s, httplib::Response& res) {
  std::ifstream in(s.options.web_dir / "ui" / "favicon.svg", std::ios::binary);
  if (s.options.web_dir.empty() || !in) {
    throw_not_found(
        "favicon: web/ui/favicon.svg is not installed (set A4PS_WEB_DIR to the web/ "
        "folder of the source tree)");
  }
  std::ostringstream svg;
  svg << in.rdbuf();
  res.set_header("Cache-Control", "max-age=86400");
  res.set_content(svg.str(), "image/svg+xml");
}

}  // namespace

void add_resource_endpoints(ApiServer::Impl& s, std::vector<Endpoint>& out) {
  const json object = {{"type", "object"}};
  out.push_back(
      make_endpoint({"GET", "/v1/memory/search",
                     "Hybrid search of episodic memory (?q=, ?k=, ?namespace=)", nullptr, object},
                    [&s](Call& c, httplib::Response& res) { search_memory(s, c, res); }));
  out.push_back(
      make_endpoint({"POST",
                     "/v1/memory",
                     "Remembers a text (201; 200 when it was already remembered)",
                     {{"type", "object"},
                      {"properties",
                       {{"text", {{"type", "string"}, {"minLength", 1}}},
                        {"namespace", {{"type", "string"}}},
                        {"source_kind", {{"type", "string"}}},
                        {"source", {{"type", "string"}}},
                        {"importance", {{"type", "number"}, {"minimum", 0}, {"maximum", 1}}},
                        {"metadata", {{"type", "object"}}}}},
                      {"required", {"text"}},
                      {"additionalProperties", false}},
                     object,
                     201},
                    [&s](Call& c, httplib::Response& res) { add_memory(s, c, res); }));
  out.push_back(
      make_endpoint({"POST",
                     "/v1/memory/import",
                     "Imports a document's text (chunked, de-duplicated) under docs/NAME",
                     {{"type", "object"},
                      {"properties",
                       {{"name", {{"type", "string"}, {"minLength", 1}, {"maxLength", 200}}},
                        {"content", {{"type", "string"}, {"minLength", 1}}},
                        {"format", {{"enum", {"text", "markdown", "html"}}}}}},
                      {"required", {"name", "content"}},
                      {"additionalProperties", false}},
                     object,
                     201},
                    [&s](Call& c, httplib::Response& res) { import_memory(s, c, res); }));
  out.push_back(make_endpoint(
      {"POST",
       "/v1/memory/{id}/forget",
       "Forgets a memory (it leaves both indexes)",
       {{"type", "object"}, {"properties", json::object()}, {"additionalProperties", false}},
       object},
      [&s](Call& c, httplib::Response& res) { forget_memory(s, c, res); }));
  out.push_back(make_endpoint(
      {"GET", "/v1/memory/stats", "How much is remembered; the vector index", nullptr, object},
      [&s](Call&, httplib::Response& res) { memory_stats(s, res); }));
  out.push_back(make_endpoint(
      {"GET", "/v1/models",
       "OpenAI's model list (a4ps, a4ps-PERSONA) with the memory budget and model figures", nullptr,
       object},
      [&s](Call&, httplib::Response& res) { list_models(s, res); }));
  Route ui{"GET",
           "/",
           "The browser UI: a chat with each persona's turns live",
           nullptr,
           {{"type", "string"}}};
  ui.open = true;
  ui.content_type = "text/html";
  out.push_back(make_endpoint(ui, [&s](Call&, httplib::Response& res) { ui_page(s, res); }));
  Route icon{"GET", "/favicon.ico", "The site icon (SVG)", nullptr, {{"type", "string"}}};
  icon.open = true;
  icon.content_type = "image/svg+xml";
  out.push_back(make_endpoint(icon, [&s](Call&, httplib::Response& res) { favicon(s, res); }));
  Route docs{"GET",
             "/docs",
             "Swagger UI for this API (served locally, no CDN)",
             nullptr,
             {{"type", "string"}}};
  docs.open = true;
  docs.content_type = "text/html";
  out.push_back(make_endpoint(docs, [&s](Call&, httplib::Response& res) { docs_page(s, res); }));
  out.push_back(
      make_endpoint({"GET", "/v1/tools",
                     "The Tool Forge's tools (active versions, with signatures)", nullptr, object},
                    [&s](Call&, httplib::Response& res) { list_tools(s, res); }));
  out.push_back(make_endpoint(
      {"GET", "/v1/tools/{name}", "One tool: manifest, versions, code and tests", nullptr, object},
      [&s](Call& c, httplib::Response& res) { show_tool(s, c, res); }));
  out.push_back(make_endpoint({"GET", "/v1/codex", "The persona codex in force", nullptr, object},
                              [&s](Call&, httplib::Response& res) { show_codex(s, res); }));
  Route metrics_route{"GET",
                      "/metrics",
                      "Prometheus text: requests, latency, runs, models",
                      nullptr,
                      {{"type", "string"}}};
  metrics_route.content_type = "text/plain";
  out.push_back(
      make_endpoint(metrics_route, [&s](Call&, httplib::Response& res) { metrics(s, res); }));
}

}  // namespace a4ps::server
