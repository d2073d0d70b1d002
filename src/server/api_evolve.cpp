// /v1/evolve: what the strategic loop knows, read-only (docs/http-api.md). Judging, training
// and adoption run from the command line (`a4ps evolve`), where their progress is shown; the
// API and the browser UI show their records.
#include <string>

#include "core/error.h"
#include "evolve/strategic_loop.h"
#include "server/api_internal.h"

namespace a4ps::server {
namespace {

using nlohmann::json;

evolve::StrategicLoop& evolve_of(const ApiServer::Impl& s) {
  if (s.deps.evolve == nullptr)
    throw Error(ErrorCode::kUnavailable, "this server has no strategic loop");
  return *s.deps.evolve;
}

// ?persona=ID (a persona of the codex, by id or name), or "" for all of them.
std::string persona_param(const ApiServer::Impl& s, Call& c) {
  if (!c.request.has_param("persona")) return "";
  const std::string name = c.request.get_param_value("persona");
  if (s.deps.codex == nullptr) return name;
  return s.deps.codex->persona(name).id;  // kNotFound names the known ones
}

std::int64_t limit_param(Call& c) {
  if (!c.request.has_param("limit")) return 100;
  const std::string text = c.request.get_param_value("limit");
  std::size_t used = 0;
  long long limit = 0;
  try {
    limit = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || limit < 1 || limit > 10000) {
    throw_invalid_argument("limit \"" + text + "\": must be a whole number from 1 to 10000");
  }
  return limit;
}

void list_judgements(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  const std::string persona = persona_param(s, c);
  bool golden = false;
  if (c.request.has_param("golden")) {
    const std::string g = c.request.get_param_value("golden");
    if (g != "true" && g != "false")
      throw_invalid_argument("golden \"" + g + "\": must be true or false");
    golden = g == "true";
  }
  json out = json::array();
  for (const auto& j : evolve_of(s).store().judgements(persona, golden, limit_param(c))) {
    out.push_back(evolve::to_json(j));
  }
  send_json_body(res, {{"judgements", out}});
}

void list_datasets(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  json out = json::array();
  for (const auto& d : evolve_of(s).store().datasets(persona_param(s, c)))
    out.push_back(evolve::to_json(d));
  send_json_body(res, {{"datasets", out}});
}

void list_candidates(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  json out = json::array();
  for (const auto& a : evolve_of(s).store().adapters(persona_param(s, c)))
    out.push_back(evolve::to_json(a));
  send_json_body(res, {{"candidates", out}});
}

void list_adoptions(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  evolve::EvolveStore& store = evolve_of(s).store();
  const std::string persona = persona_param(s, c);
  json decisions = json::array();
  for (const auto& d : store.decisions(persona)) decisions.push_back(evolve::to_json(d));
  json current = json::object();
  if (s.deps.codex != nullptr) {
    for (const Persona& p : s.deps.codex->personas()) {
      if (!persona.empty() && p.id != persona) continue;
      const auto v = store.adopted(p.id);
      current[p.id] = v ? json(*v) : json(nullptr);
    }
  }
  send_json_body(res, {{"decisions", decisions}, {"current", current}});
}

}  // namespace

void add_evolve_endpoints(ApiServer::Impl& s, std::vector<Endpoint>& out) {
  const json object = {{"type", "object"}};
  const auto get = [&](const std::string& path, const std::string& summary,
                       void (*handler)(ApiServer::Impl&, Call&, httplib::Response&)) {
    out.push_back(
        make_endpoint({"GET", path, summary, nullptr, object},
                      [&s, handler](Call& c, httplib::Response& res) { handler(s, c, res); }));
  };
  out.push_back(make_endpoint(
      {"GET", "/v1/evolve",
       "Each persona's judgements, datasets, adapters and the adapter it uses, and the settings",
       nullptr, object},
      [&s](Call&, httplib::Response& res) { send_json_body(res, evolve_of(s).status()); }));
  get("/v1/evolve/judgements",
      "The Oracle's judgements, newest first (?persona=, ?golden=true, ?limit=1..10000)",
      list_judgements);
  get("/v1/evolve/datasets", "Every dataset version (?persona=)", list_datasets);
  get("/v1/evolve/candidates",
      "Every adapter trained, with its step losses and held-out loss per epoch (?persona=)",
      list_candidates);
  get("/v1/evolve/adoptions",
      "Every adoption decision with its figures, and the adapter each persona uses (?persona=)",
      list_adoptions);
}

}  // namespace a4ps::server
