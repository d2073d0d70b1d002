// OpenAI's chat completions, streaming and not. Model "a4ps" runs the whole workflow on the
// conversation (the answer is the assistant message; the persona turns travel in the "a4ps"
// extension field); "a4ps-PERSONA" talks to one persona through its model and system prompt.
#include "core/clock.h"
#include "server/api_internal.h"

namespace a4ps::server {
namespace {

using nlohmann::json;

const json& chat_schema() {
  // A content part's type is checked by the handler, which names the part it cannot take.
  static const json part = {
      {"type", "object"}, {"properties", {{"type", {{"type", "string"}}}}}, {"required", {"type"}}};
  static const json message = {{"type", "object"},
                               {"properties",
                                {{"role", {{"enum", {"system", "user", "assistant", "developer"}}}},
                                 {"content", {{"type", {"string", "array"}}, {"items", part}}},
                                 {"name", {{"type", "string"}}}}},
                               {"required", {"role", "content"}},
                               {"additionalProperties", false}};
  static const json penalty = {{"type", "number"}, {"minimum", -2}, {"maximum", 2}};
  static const json schema = {
      {"type", "object"},
      {"properties",
       {{"model", {{"type", "string"}, {"minLength", 1}}},
        {"messages", {{"type", "array"}, {"minItems", 1}, {"items", message}}},
        {"stream", {{"type", "boolean"}}},
        {"stream_options",
         {{"type", "object"},
          {"properties", {{"include_usage", {{"type", "boolean"}}}}},
          {"additionalProperties", false}}},
        {"temperature", {{"type", "number"}, {"minimum", 0}, {"maximum", 2}}},
        {"top_p", {{"type", "number"}, {"minimum", 0}, {"maximum", 1}}},
        {"frequency_penalty", penalty},
        {"presence_penalty", penalty},
        {"max_tokens", {{"type", "integer"}, {"minimum", 1}}},
        {"max_completion_tokens", {{"type", "integer"}, {"minimum", 1}}},
        {"seed", {{"type", "integer"}}},
        {"stop", {{"type", {"string", "array"}}}},
        {"n", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1}}},
        {"user", {{"type", "string"}}}}},
      {"required", {"model", "messages"}},
      {"additionalProperties", false}};
  return schema;
}

// The request fields that shape one model's generation: a4ps-PERSONA applies them; the
// workflow (model a4ps) runs each persona with its codex settings and says which it did not
// apply.
constexpr const char* kGenerationFields[] = {"temperature",
                                             "top_p",
                                             "frequency_penalty",
                                             "presence_penalty",
                                             "max_tokens",
                                             "max_completion_tokens",
                                             "seed",
                                             "stop"};

// The messages with each content as one string: an array of parts becomes its text parts
// joined by newlines (as llama-server joins them). Throws kInvalidArgument naming a part that
// is not text.
json with_text_content(const json& messages) {
  json out = messages;
  for (size_t i = 0; i < out.size(); ++i) {
    json& content = out[i]["content"];
    if (content.is_string()) continue;
    std::string text;
    for (size_t j = 0; j < content.size(); ++j) {
      const json& part = content[j];
      const std::string where =
          "messages[" + std::to_string(i) + "].content[" + std::to_string(j) + "]";
      const std::string type = part["type"];
      if (type != "text") {
        throw_invalid_argument(where + ": a part of type \"" + type +
                               "\": this server takes text only (parts of type \"text\")");
      }
      if (!part.contains("text") || !part["text"].is_string()) {
        throw_invalid_argument(where + ": a part of type \"text\" needs a \"text\" string");
      }
      if (j > 0) text += "\n";
      text += part["text"].get<std::string>();
    }
    content = text;
  }
  return out;
}

struct Completion {
  std::string id;
  std::string model;
  std::int64_t created = 0;
  bool include_usage = false;  // stream_options.include_usage
};

json usage_json(std::int32_t prompt_tokens, std::int32_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

// "length" when max_tokens cut the reply, as OpenAI says it.
std::string finish_reason(llm::StopReason reason) {
  return reason == llm::StopReason::kMaxTokens ? "length" : "stop";
}

json chunk(const Completion& c, const json& delta, const json& reason = nullptr) {
  json out = {{"id", c.id},
              {"object", "chat.completion.chunk"},
              {"created", c.created},
              {"model", c.model},
              {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", reason}}}}};
  // With include_usage every chunk has the field, null but in the last one (OpenAI's shape).
  if (c.include_usage) out["usage"] = nullptr;
  return out;
}

bool write_data(httplib::DataSink& sink, const json& data) {
  const std::string frame = "data: " + data.dump() + "\n\n";
  return sink.write(frame.data(), frame.size());
}

bool write_done(httplib::DataSink& sink) {
  static const std::string done = "data: [DONE]\n\n";
  const bool ok = sink.write(done.data(), done.size());
  sink.done();
  return ok;
}

// The end of a stream that answered: the chunk with the finish reason, the usage chunk (empty
// choices) when the client asked for it, then [DONE].
bool write_end(httplib::DataSink& sink, const Completion& c, const std::string& reason,
               const json& usage) {
  write_data(sink, chunk(c, json::object(), reason));
  if (c.include_usage) {
    write_data(sink, {{"id", c.id},
                      {"object", "chat.completion.chunk"},
                      {"created", c.created},
                      {"model", c.model},
                      {"choices", json::array()},
                      {"usage", usage}});
  }
  return write_done(sink);
}

json message_json(const std::string& content, const Completion& c, const json& extension,
                  const std::string& reason = "stop", const json& usage = usage_json(0, 0)) {
  json out = {{"id", c.id},
              {"object", "chat.completion"},
              {"created", c.created},
              {"model", c.model},
              {"choices",
               {{{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", content}}},
                 {"finish_reason", reason}}}},
              {"usage", usage}};
  if (!extension.is_null()) out["a4ps"] = extension;
  return out;
}

// The task the workflow gets: the last user message, after the conversation before it.
std::string task_of(const json& messages) {
  std::string earlier;
  std::string last;
  for (const json& m : messages) {
    const std::string role = m["role"];
    if (role == "user") {
      if (!last.empty()) earlier += "user: " + last + "\n";
      last = m["content"];
    } else if (role == "assistant") {
      earlier += "assistant: " + m["content"].get<std::string>() + "\n";
    }
  }
  if (last.empty()) throw_invalid_argument("messages: there is no user message to answer");
  return earlier.empty() ? last : "Earlier in this conversation:\n" + earlier + "\n" + last;
}

// The whole workflow. Streaming sends the answer node's tokens as content and every other
// event in the "a4ps" extension field of content-less chunks.
void complete_with_workflow(ApiServer::Impl& s, Call& c, httplib::Response& res,
                            const Completion& completion) {
  const std::string task = task_of(c.body["messages"]);
  const std::string thread = graph::make_id("t");
  const json input = s.deps.input(task, json::array());
  const bool stream = c.body.value("stream", false);
  const auto run = [&s, thread, input](const graph::RunOptions& options) {
    return graph::start_run(s.deps.graph(), *s.deps.checkpointer, thread, input, options);
  };
  json not_applied = json::array();
  for (const char* field : kGenerationFields) {
    if (c.body.contains(field)) not_applied.push_back(field);
  }
  const json started = launch_run(s, thread, !stream, run);
  if (!stream) {
    if (started["status"] != "done") {
      throw Error(ErrorCode::kFailedPrecondition, "run " + started["run_id"].get<std::string>() +
                                                      " ended " +
                                                      started["status"].get<std::string>());
    }
    json extension = {{"run_id", started["run_id"]}, {"thread_id", thread}};
    if (!not_applied.empty()) extension["not_applied"] = not_applied;
    if (s.deps.turns) extension["turns"] = s.deps.turns(s.deps.checkpointer->load(thread).state);
    send_json_body(res, message_json(started["answer"], completion, extension));
    return;
  }
  const std::string run_id = started["run_id"];
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [&s, run_id, thread, completion, not_applied](size_t, httplib::DataSink& sink) {
        json first = chunk(completion, {{"role", "assistant"}, {"content", ""}});
        if (!not_applied.empty()) first["a4ps"] = {{"not_applied", not_applied}};
        if (!write_data(sink, first)) return false;
        bool answered = false;
        const bool finished = follow_run(s, run_id, [&](const graph::EventRecord& e) {
          json delta = json::object();
          json out;
          if (e.kind == "token" && e.data.value("node", "") == s.deps.answer_node) {
            answered = true;
            out = chunk(completion, {{"content", e.data.value("text", "")}});
          } else {
            out = chunk(completion, delta);
            out["a4ps"] = {{"event", e.kind}, {"seq", e.seq}, {"data", e.data}};
          }
          return write_data(sink, out);
        });
        if (!finished) return false;  // the client left
        const graph::RunInfo info = s.deps.checkpointer->get_run(run_id);
        if (info.status != "done") {
          write_data(sink, {{"error",
                             {{"message", "run " + run_id + " ended " + info.status +
                                              (info.error.empty() ? "" : ": " + info.error)},
                              {"type", "a4ps_run_" + info.status}}}});
          return write_done(sink);
        }
        if (!answered && s.deps.answer) {
          write_data(sink,
                     chunk(completion,
                           {{"content", s.deps.answer(s.deps.checkpointer->load(thread).state)}}));
        }
        // The workflow spans several models: no token counts (docs/http-api.md).
        return write_end(sink, completion, "stop", usage_json(0, 0));
      });
}

llm::ChatRequest persona_request(const Persona& p, const json& body) {
  llm::ChatRequest r;
  r.messages.push_back({llm::Role::kSystem, p.full_system_prompt()});
  for (const json& m : body["messages"]) {
    const std::string role = m["role"];
    if (role == "system" || role == "developer") {
      r.messages.front().content += "\n\n" + m["content"].get<std::string>();
    } else {
      r.messages.push_back(
          {role == "user" ? llm::Role::kUser : llm::Role::kAssistant, m["content"]});
    }
  }
  r.sampling = p.sampling;
  if (body.contains("temperature")) r.sampling.temperature = body["temperature"].get<float>();
  if (body.contains("top_p")) r.sampling.top_p = body["top_p"].get<float>();
  if (body.contains("frequency_penalty")) {
    r.sampling.frequency_penalty = body["frequency_penalty"].get<float>();
  }
  if (body.contains("presence_penalty")) {
    r.sampling.presence_penalty = body["presence_penalty"].get<float>();
  }
  if (body.contains("seed")) r.sampling.seed = body["seed"].get<std::uint32_t>();
  r.max_tokens = p.max_tokens;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (body.contains(key)) r.max_tokens = body[key].get<std::int32_t>();
  }
  if (body.contains("stop")) {
    if (body["stop"].is_string()) {
      r.stop.push_back(body["stop"]);
    } else {
      for (const json& stop : body["stop"]) r.stop.push_back(stop.get<std::string>());
    }
  }
  return r;
}

void complete_with_persona(ApiServer::Impl& s, Call& c, httplib::Response& res,
                           const Completion& completion, const Persona& persona) {
  if (s.deps.models == nullptr) throw Error(ErrorCode::kUnavailable, "this server has no models");
  llm::ChatRequest request = persona_request(persona, c.body);
  if (!c.body.value("stream", false)) {
    const llm::ChatResult r = s.deps.models->chat(persona.model, std::move(request));
    send_json_body(
        res,
        message_json(r.text, completion, {{"persona", persona.name}}, finish_reason(r.stop_reason),
                     usage_json(r.timings.n_prompt_tokens, r.timings.n_generated_tokens)));
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [&s, completion, persona, request](
                                                            size_t,
                                                            httplib::DataSink& sink) mutable {
    bool open = write_data(sink, chunk(completion, {{"role", "assistant"}, {"content", ""}}));
    std::stop_source client_left;
    request.cancel = client_left.get_token();
    request.on_token = [&](std::string_view piece) {
      if (open && !write_data(sink, chunk(completion, {{"content", std::string(piece)}}))) {
        open = false;
        client_left.request_stop();
      }
    };
    llm::ChatResult result;
    try {
      result = s.deps.models->chat(persona.model, std::move(request));
    } catch (const Error& e) {
      if (!open) return false;
      write_data(sink, {{"error", {{"message", e.what()}, {"type", "a4ps_error"}}}});
      return write_done(sink);
    }
    if (!open) return false;
    return write_end(sink, completion, finish_reason(result.stop_reason),
                     usage_json(result.timings.n_prompt_tokens, result.timings.n_generated_tokens));
  });
}

void chat_completions(ApiServer::Impl& s, Call& c, httplib::Response& res) {
  Completion completion;
  completion.model = c.body["model"];
  completion.created = unix_ms() / 1000;
  completion.id = "chatcmpl-" + graph::make_id("c").substr(2);
  if (c.body.contains("stream_options")) {
    if (!c.body.value("stream", false)) {
      throw_invalid_argument("stream_options: only allowed with \"stream\": true (as OpenAI)");
    }
    completion.include_usage = c.body["stream_options"].value("include_usage", false);
  }
  c.body["messages"] = with_text_content(c.body["messages"]);
  if (completion.model == "a4ps") {
    complete_with_workflow(s, c, res, completion);
    return;
  }
  if (completion.model.starts_with("a4ps-") && s.deps.codex != nullptr) {
    const std::string id = completion.model.substr(5);
    for (const Persona& p : s.deps.codex->personas()) {
      if (p.id == id) {
        complete_with_persona(s, c, res, completion, p);
        return;
      }
    }
  }
  throw_not_found("model \"" + completion.model +
                  "\": this server has a4ps (the whole workflow) and a4ps-PERSONA for each "
                  "persona of the codex (GET /v1/models)");
}

}  // namespace

void add_openai_endpoints(ApiServer::Impl& s, std::vector<Endpoint>& out) {
  out.push_back(make_endpoint(
      {"POST",
       "/v1/chat/completions",
       "OpenAI-compatible chat: model a4ps runs the four personas on the conversation, "
       "a4ps-PERSONA talks to one (stream: Server-Sent Events ending in [DONE])",
       chat_schema(),
       {{"type", "object"}}},
      [&s](Call& c, httplib::Response& res) { chat_completions(s, c, res); }));
}

}  // namespace a4ps::server
