#include "llm/http_client.h"

#include <httplib.h>

#include "core/error.h"

namespace a4ps::llm {

struct HttpClient::Impl {
  explicit Impl(const std::string& url) : client(url) {}
  httplib::Client client;
};

HttpOptions short_timeouts(HttpOptions options) {
  options.connect_timeout = std::min(options.connect_timeout, std::chrono::milliseconds(3000));
  options.read_timeout = std::min(options.read_timeout, std::chrono::milliseconds(10000));
  return options;
}

HttpClient::HttpClient(const std::string& base_url, HttpOptions options)
    : base_url_(base_url), options_(options) {
  if (!base_url.starts_with("http://") && !base_url.starts_with("https://")) {
    throw_invalid_argument("server URL \"" + base_url + "\": must start with http:// or https://");
  }
  impl_ = std::make_unique<Impl>(base_url);
  if (!impl_->client.is_valid()) {
    throw_invalid_argument("server URL \"" + base_url + "\": not a valid http(s)://host[:port]");
  }
  const auto seconds = [](std::chrono::milliseconds ms) {
    return std::pair<time_t, time_t>(ms.count() / 1000, (ms.count() % 1000) * 1000);
  };
  const auto [cs, cus] = seconds(options.connect_timeout);
  const auto [rs, rus] = seconds(options.read_timeout);
  impl_->client.set_connection_timeout(cs, cus);
  impl_->client.set_read_timeout(rs, rus);
  impl_->client.set_write_timeout(rs, rus);
  impl_->client.set_keep_alive(true);
}

HttpClient::~HttpClient() = default;

namespace {

[[noreturn]] void throw_transport_error(const HttpOptions& options, const std::string& url,
                                        const std::string& path, httplib::Error error) {
  const std::string what =
      error == httplib::Error::Connection ? "is not reachable (connection refused)"
      : error == httplib::Error::Read     ? "did not answer in time"
                                          : "gave no response (" + httplib::to_string(error) + ")";
  if (options.server_name.empty()) throw Error(ErrorCode::kUnavailable, url + path + " " + what);
  std::string message = options.server_name + " at " + url + path + " " + what;
  if (!options.unreachable_fix.empty()) message += ": " + options.unreachable_fix;
  throw Error(ErrorCode::kUnavailable, message);
}

}  // namespace

HttpResponse HttpClient::get(const std::string& path) {
  auto result = impl_->client.Get(path);
  if (!result) throw_transport_error(options_, base_url_, path, result.error());
  return {result->status, result->body};
}

HttpResponse HttpClient::post_json(const std::string& path, const std::string& body) {
  auto result = impl_->client.Post(path, body, "application/json");
  if (!result) throw_transport_error(options_, base_url_, path, result.error());
  return {result->status, result->body};
}

HttpResponse HttpClient::post_json_streaming(const std::string& path, const std::string& body,
                                             const std::function<bool(std::string_view)>& on_chunk,
                                             bool* cancelled) {
  *cancelled = false;
  HttpResponse response;
  httplib::Request request;
  request.method = "POST";
  request.path = path;
  request.body = body;
  request.set_header("Content-Type", "application/json");
  request.set_header("Accept", "text/event-stream, application/x-ndjson, application/json");
  request.response_handler = [&response](const httplib::Response& r) {
    response.status = r.status;
    return true;
  };
  request.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
    if (response.status < 200 || response.status >= 300) {
      response.body.append(data, length);  // an error body: keep it whole
      return true;
    }
    if (!on_chunk(std::string_view(data, length))) {
      *cancelled = true;
      return false;
    }
    return true;
  };
  auto result = impl_->client.send(request);
  if (!result) {
    if (*cancelled) return {0, {}};
    throw_transport_error(options_, base_url_, path, result.error());
  }
  return response;
}

}  // namespace a4ps::llm
