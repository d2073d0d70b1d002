// llm/http_client: the HTTP client the remote backends (OpenAI-compatible, Ollama) share; the
// only file of llm/ that includes cpp-httplib. Blocking; one instance per backend; not
// thread-safe (a backend is driven by one thread at a time).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace a4ps::llm {

struct HttpOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds read_timeout{300000};
  // Who the server is and what to do when it does not answer, for people: "Ollama" and
  // "start it with `ollama serve` ...". Empty: the URL alone is named.
  std::string server_name;
  std::string unreachable_fix;
};

// `options` with timeouts for a quick "are you there" request (at most 3 s to connect and
// 10 s to answer).
HttpOptions short_timeouts(HttpOptions options);

struct HttpResponse {
  int status = 0;
  std::string body;
};

class HttpClient {
 public:
  // `base_url` is http://host[:port] (https when the build has TLS). Throws kInvalidArgument
  // for anything else.
  HttpClient(const std::string& base_url, HttpOptions options);
  ~HttpClient();

  // Throw kUnavailable when no response arrives (refused, reset, timed out), naming the URL
  // and the reason.
  HttpResponse get(const std::string& path);
  HttpResponse post_json(const std::string& path, const std::string& body);

  // Streams the response body of a POST to `on_chunk` as it arrives; `on_chunk` returns false
  // to stop reading (then the returned status is 0 and `*cancelled` is set). The body of a
  // non-2xx response is returned whole in HttpResponse::body instead.
  HttpResponse post_json_streaming(const std::string& path, const std::string& body,
                                   const std::function<bool(std::string_view)>& on_chunk,
                                   bool* cancelled);

  const std::string& base_url() const { return base_url_; }

 private:
  struct Impl;
  std::string base_url_;
  HttpOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace a4ps::llm
