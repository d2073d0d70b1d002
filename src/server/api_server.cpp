// The server's machinery: routing from the route table, authorization, JSON bodies and
// errors, CORS, the runs in flight and graceful stop. The handlers are in api_routes.cpp.
#include "server/api_server.h"

#include <httplib.h>

#include <regex>

#include "core/error.h"
#include "server/api_internal.h"

namespace a4ps::server {

using nlohmann::json;

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kResourceExhausted:
      return 413;
    case ErrorCode::kCancelled:
      return 499;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kDeadlineExceeded:
      return 504;
    case ErrorCode::kDataLoss:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

std::string status_word(int status) {
  switch (status) {
    case 400:
      return "invalid_argument";
    case 401:
      return "unauthenticated";
    case 403:
      return "permission_denied";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 409:
      return "failed_precondition";
    case 413:
      return "too_large";
    case 499:
      return "cancelled";
    case 503:
      return "unavailable";
    case 504:
      return "deadline_exceeded";
    default:
      return status >= 500 ? "internal" : "error";
  }
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(json{{"error", {{"code", status_word(status)}, {"message", message}}}}.dump(),
                  "application/json");
}

namespace {

// "/v1/runs/{id}/events" -> "/v1/runs/([^/]+)/events"
std::string path_regex(const std::string& path) {
  return std::regex_replace(path, std::regex(R"(\{[a-z_]+\})"), "([^/]+)");
}

std::vector<std::string> path_params(const std::string& path) {
  std::vector<std::string> names;
  const std::regex param(R"(\{([a-z_]+)\})");
  for (auto it = std::sregex_iterator(path.begin(), path.end(), param);
       it != std::sregex_iterator(); ++it) {
    names.push_back((*it)[1].str());
  }
  return names;
}

}  // namespace

ApiServer::Impl::Impl(ApiDeps d, ApiOptions o) : deps(std::move(d)), options(std::move(o)) {}

void ApiServer::Impl::authorize(const httplib::Request& req) const {
  if (options.token.empty()) return;
  // Browsers' EventSource cannot set headers: the UI passes the token as ?access_token=.
  if (req.get_header_value("Authorization") != "Bearer " + options.token &&
      req.get_param_value("access_token") != options.token) {
    throw Unauthenticated();
  }
}

void ApiServer::Impl::dispatch(const Endpoint& endpoint, const httplib::Request& req,
                               httplib::Response& res) {
  const auto started = std::chrono::steady_clock::now();
  handle(endpoint, req, res);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string route = endpoint.route.method + " " + endpoint.route.path;
  std::lock_guard lock(metrics_mu);
  ++requests[{route, res.status}];
  auto& [total, count] = latency[route];
  total += seconds;
  ++count;
}

void ApiServer::Impl::handle(const Endpoint& endpoint, const httplib::Request& req,
                             httplib::Response& res) {
  try {
    if (!endpoint.route.open) authorize(req);
    Call call{req, json::object(), {}};
    const std::vector<std::string> names = path_params(endpoint.route.path);
    for (size_t i = 0; i < names.size() && i + 1 < req.matches.size(); ++i) {
      call.params[names[i]] = req.matches[i + 1].str();
    }
    if (!endpoint.route.request_schema.is_null()) {
      call.body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
      if (call.body.is_discarded()) {
        throw_invalid_argument("the request body is not valid JSON");
      }
      std::string why;
      if (!endpoint.validator->validate(call.body, &why)) {
        throw_invalid_argument("the request body does not match the schema of " +
                               endpoint.route.method + " " + endpoint.route.path + ": " + why);
      }
    }
    endpoint.handler(call, res);
  } catch (const Unauthenticated&) {
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, 401, "missing or wrong bearer token (Authorization: Bearer TOKEN)");
  } catch (const Error& e) {
    send_error(res, http_status(e.code()), e.what());
  } catch (const std::exception& e) {
    send_error(res, 500, e.what());
  }
}

void ApiServer::Impl::register_routes() {
  for (const Endpoint& endpoint : endpoints) {
    const std::string pattern = path_regex(endpoint.route.path);
    const auto handler = [this, &endpoint](const httplib::Request& req, httplib::Response& res) {
      dispatch(endpoint, req, res);
    };
    if (endpoint.route.method == "GET") {
      http.Get(pattern, handler);
    } else {
      http.Post(pattern, handler);
    }
  }
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      send_error(res, 413, "the request body is larger than [server] max_body_bytes");
    } else if (res.status == 404) {
      send_error(
          res, 404,
          "no such endpoint: " + req.method + " " + req.path + " (GET /openapi.json lists them)");
    } else {
      send_error(res, res.status, "HTTP " + std::to_string(res.status));
    }
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, const std::exception_ptr& ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          send_error(res, 500, e.what());
        } catch (...) {
          send_error(res, 500, "unknown error");
        }
      });
  if (!options.cors_origins.empty()) {
    http.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      const std::string origin = req.get_header_value("Origin");
      for (const std::string& allowed : options.cors_origins) {
        if (origin == allowed) {
          res.set_header("Access-Control-Allow-Origin", origin);
          res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
          res.set_header("Vary", "Origin");
        }
      }
    });
    http.Options(".*", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  }
}

// Threads of runs that finished are joined here, never by themselves.
void ApiServer::Impl::reap() {
  std::vector<std::shared_ptr<RunSlot>> done;
  {
    std::lock_guard lock(mu);
    for (auto it = slots.begin(); it != slots.end();) {
      if ((*it)->finished) {
        done.push_back(*it);
        it = slots.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& slot : done) {
    if (slot->worker.joinable()) slot->worker.join();
  }
}

void ApiServer::Impl::notify() {
  {
    std::lock_guard lock(mu);
    ++generation;
  }
  changed.notify_all();
}

bool ApiServer::Impl::in_flight(const std::string& run_id) {
  std::lock_guard lock(mu);
  for (const auto& slot : slots) {
    if (slot->run_id == run_id && !slot->finished) return true;
  }
  return false;
}

ApiServer::ApiServer(ApiDeps deps, ApiOptions options)
    : impl_(std::make_unique<Impl>(std::move(deps), std::move(options))) {
  const ApiOptions& o = impl_->options;
  if (!is_loopback(o.host) && o.token.empty()) {
    throw Error(ErrorCode::kFailedPrecondition,
                "refusing to serve on " + o.host +
                    " without a token: set [server] token (every request must then carry "
                    "Authorization: Bearer TOKEN), or bind 127.0.0.1");
  }
  if (o.port < 0 || o.port > 65535) {
    throw_invalid_argument("port " + std::to_string(o.port) + ": expected 0 to 65535");
  }
  impl_->endpoints = api_endpoints(*impl_);
  for (const Endpoint& e : impl_->endpoints) impl_->route_list.push_back(e.route);
  impl_->register_routes();
  const auto swagger = o.web_dir / "node_modules" / "swagger-ui-dist";
  if (!o.web_dir.empty() && std::filesystem::exists(swagger / "swagger-ui-bundle.js")) {
    impl_->http.set_mount_point("/docs/assets", swagger.string());
  }
  if (!o.web_dir.empty() && std::filesystem::exists(o.web_dir / "ui" / "index.html")) {
    impl_->http.set_mount_point("/ui", (o.web_dir / "ui").string());
  }
  impl_->http.set_payload_max_length(o.max_body_bytes);
  impl_->http.set_keep_alive_max_count(10'000);  // cpp-httplib's 5 makes clients reconnect
  // Headers and body go out in separate writes; with Nagle's algorithm the body waits for the
  // client's delayed ACK (~40 ms a response on Linux).
  impl_->http.set_tcp_nodelay(true);
  impl_->http.set_read_timeout(30, 0);
  impl_->http.set_write_timeout(30, 0);
  const int threads = o.threads;
  impl_->http.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(std::max(threads, 2)));
  };
}

ApiServer::~ApiServer() {
  stop();
}

int ApiServer::bind() {
  const ApiOptions& o = impl_->options;
  const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host)
                               : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) {
    throw Error(ErrorCode::kUnavailable, "cannot listen on " + o.host + ":" +
                                             std::to_string(o.port) +
                                             " (in use, or not an address of this machine)");
  }
  impl_->port = port;
  return port;
}

int ApiServer::port() const {
  return impl_->port;
}

void ApiServer::serve() {
  impl_->http.listen_after_bind();
}

void ApiServer::stop() {
  if (impl_->stopping.exchange(true)) return;
  impl_->http.stop();
  std::vector<std::shared_ptr<RunSlot>> all;
  {
    std::lock_guard lock(impl_->mu);
    all = impl_->slots;
  }
  for (auto& slot : all) slot->stop.request_stop();
  impl_->notify();
  for (auto& slot : all) {
    if (slot->worker.joinable()) slot->worker.join();
  }
}

const std::vector<Route>& ApiServer::routes() const {
  return impl_->route_list;
}

json ApiServer::openapi() const {
  return openapi_document(impl_->endpoints, !impl_->options.token.empty());
}

}  // namespace a4ps::server
