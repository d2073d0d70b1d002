// The server's machinery: routing from the route table, authorization, JSON bodies and
// errors, CORS, the runs in flight and graceful stop. The handlers are in api_routes.cpp.
#include "server/api_server.h"

#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <regex>

#include "core/error.h"
#include "core/text.h"
#include "server/api_internal.h"

namespace a4ps::server {

using nlohmann::json;

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

std::string url_host(const std::string& host) {
  const bool ipv6 = host.find(':') != std::string::npos && !host.starts_with('[');
  return ipv6 ? "[" + host + "]" : host;
}

Error bind_error(const std::string& host, int port, int error_number) {
  const std::string where = url_host(host) + ":" + std::to_string(port);
  switch (error_number) {
    case EACCES:
    case EPERM:
      return Error(
          ErrorCode::kPermissionDenied,
          "cannot listen on " + where + ": permission denied" +
              (port > 0 && port < 1024 ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE; "
                                         "use --port 1024 or above, e.g. 8000)"
                                       : ""));
    case EADDRINUSE:
      return Error(ErrorCode::kUnavailable,
                   "cannot listen on " + where +
                       ": the port is in use (another server? pick another --port, or 0 for "
                       "any free one)");
    case EADDRNOTAVAIL:
      return Error(ErrorCode::kUnavailable, "cannot listen on " + where + ": " + host +
                                                " is not an address of this machine");
    default:
      return Error(ErrorCode::kUnavailable, "cannot listen on " + where + ": " +
                                                (error_number == 0 ? std::string("unknown reason")
                                                                   : std::strerror(error_number)));
  }
}

namespace {

// Why `host`:`port` cannot be bound, asked of the system itself (cpp-httplib only says that it
// failed): the errno of a bind like its own, or a resolver failure.
Error why_bind_fails(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return Error(ErrorCode::kUnavailable, "cannot listen on " + url_host(host) + ":" + service +
                                              ": the host does not resolve (" + gai_strerror(rc) +
                                              ")");
  }
  int error_number = 0;
  const int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  if (fd < 0) {
    error_number = errno;
  } else {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));  // as the server socket
    if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0) error_number = errno;
    close(fd);
  }
  freeaddrinfo(found);
  return bind_error(host, port, error_number);
}

}  // namespace

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
    case 411:
      return "length_required";
    case 414:
    case 416:
      return "invalid_argument";
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

// Text reaches the handlers as UTF-8 or not at all: nothing is replaced without a word.
void require_utf8(const httplib::Request& req, const std::map<std::string, std::string>& path) {
  for (const auto& [name, value] : path) {
    if (valid_utf8(value) != value) {
      throw_invalid_argument("path parameter " + name + ": its bytes are not UTF-8");
    }
  }
  for (const auto& [name, value] : req.params) {
    if (valid_utf8(value) != value) {
      throw_invalid_argument("query parameter " + name +
                             ": its bytes are not UTF-8 (percent-encode UTF-8 text)");
    }
  }
}

json parse_body(const std::string& body) {
  if (const std::string valid = valid_utf8(body); valid != body) {
    const auto at = std::mismatch(body.begin(), body.end(), valid.begin()).first - body.begin();
    throw_invalid_argument("the request body is not UTF-8 (a byte that is not, near byte " +
                           std::to_string(at) + "): JSON text must be UTF-8");
  }
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 9: ..." without the tag.
    std::string why = e.what();
    if (const auto tag_end = why.find("] "); why.starts_with("[json") && tag_end != why.npos) {
      why.erase(0, tag_end + 2);
    }
    throw_invalid_argument("the request body is not valid JSON: " + why);
  }
}

// What cpp-httplib's own refusals (no handler ran) mean, in words.
std::string refusal_message(const httplib::Request& req, int status, std::size_t max_body) {
  switch (status) {
    case 413: {
      const std::string length = req.get_header_value("Content-Length");
      return "the request body" + (length.empty() ? "" : " (" + length + " bytes)") +
             " is over this server's limit of " + std::to_string(max_body) +
             " bytes ([server] max_body_bytes)";
    }
    case 404:
      return "no such endpoint: " + req.method + " " + req.path + " (GET /openapi.json lists them)";
    case 400:
      return "the request could not be read: malformed HTTP, or a body shorter than its "
             "Content-Length or not complete within 30 s";
    case 414:
      return "the request's URI is too long";
    case 416:
      return "the Range header asks for bytes the file does not have";
    default:
      return "HTTP " + std::to_string(status);
  }
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

namespace {

// The request a server thread is answering, for the metrics: set before routing, named by
// dispatch, counted after routing (before the response is written, so a client that reads
// /metrics next sees it). Every request is answered on one thread from start to end.
struct RequestInFlight {
  bool started = false;
  std::chrono::steady_clock::time_point at;
  const Route* route = nullptr;
};
thread_local RequestInFlight t_request;

// The metrics' route label of a request no endpoint answered.
std::string unrouted_label(const httplib::Request& req) {
  if (req.path.starts_with("/ui/")) return req.method + " /ui/{file}";
  if (req.path.starts_with("/docs/assets/")) return req.method + " /docs/assets/{file}";
  return "other";
}

// POST without Content-Length or chunked Transfer-Encoding: cpp-httplib would wait for the
// client to close the connection (until its read timeout) and then answer a bare 400.
bool body_length_unknown(const httplib::Request& req) {
  return req.method == "POST" && !req.has_header("Content-Length") &&
         req.get_header_value("Transfer-Encoding").find("chunked") == std::string::npos;
}

}  // namespace

void ApiServer::Impl::dispatch(const Endpoint& endpoint, const httplib::Request& req,
                               httplib::Response& res) {
  t_request.route = &endpoint.route;
  handle(endpoint, req, res);
  if (res.status == -1) res.status = 200;  // cpp-httplib's default, set after routing
}

void ApiServer::Impl::count_request(const httplib::Request& req, const httplib::Response& res) {
  const std::string route = t_request.route != nullptr
                                ? t_request.route->method + " " + t_request.route->path
                                : unrouted_label(req);
  const int status = res.status == -1 ? 200 : res.status;
  const bool timed = t_request.started;
  const double seconds =
      timed ? std::chrono::duration<double>(std::chrono::steady_clock::now() - t_request.at).count()
            : 0.0;
  t_request = {};
  std::lock_guard lock(metrics_mu);
  ++requests[{route, status}];
  if (!timed) return;
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
    require_utf8(req, call.params);
    if (!endpoint.route.request_schema.is_null()) {
      call.body = req.body.empty() ? json::object() : parse_body(req.body);
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
  http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    send_error(res, res.status, refusal_message(req, res.status, options.max_body_bytes));
  });
  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    t_request = {true, std::chrono::steady_clock::now(), nullptr};
    if (!body_length_unknown(req)) return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("Connection", "close");
    send_error(res, 411,
               req.method + " " + req.path +
                   ": the request has no Content-Length (nor chunked Transfer-Encoding); send "
                   "the JSON body with its length, an empty one as Content-Length: 0");
    return httplib::Server::HandlerResponse::Handled;
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
  http.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    count_request(req, res);
    const std::string origin = req.get_header_value("Origin");
    for (const std::string& allowed : options.cors_origins) {
      if (origin == allowed) {
        res.set_header("Access-Control-Allow-Origin", origin);
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
        res.set_header("Vary", "Origin");
      }
    }
  });
  if (!options.cors_origins.empty()) {
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
  ApiOptions& o = impl_->options;
  if (o.host.size() > 2 && o.host.starts_with('[') && o.host.ends_with(']')) {
    o.host = o.host.substr(1, o.host.size() - 2);  // "[::1]": the URL form of an IPv6 address
  }
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
  // cpp-httplib's default is SO_REUSEPORT, with which a second server on the same port binds
  // too and the kernel splits the connections between them. SO_REUSEADDR alone: a restart
  // binds over the old connections' TIME_WAIT, a second server is refused.
  impl_->http.set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
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
  if (port < 0) throw why_bind_fails(o.host, o.port);
  impl_->port = port;
  return port;
}

int ApiServer::port() const {
  return impl_->port;
}

std::string ApiServer::url() const {
  return "http://" + url_host(impl_->options.host) + ":" + std::to_string(impl_->port);
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
