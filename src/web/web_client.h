// web/web_client: BABS's window on the web, within what the configuration allows. A search
// endpoint speaking SearxNG's JSON (`[tools] search_url`), and page fetches from the hosts of
// `[tools] fetch_allowed_hosts` only: every redirect is followed by hand and checked against
// the list, bodies past a size limit and requests past a deadline are abandoned, and a page
// becomes text (HTML through libxml2; plain text and Markdown as they are).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace a4ps::web {

struct WebOptions {
  std::string search_url;                    // empty: no search
  std::vector<std::string> allowed_hosts;    // "host", "host:port" or "*.domain"
  std::size_t max_bytes = 2u << 20;          // of one response body
  std::chrono::milliseconds timeout{10000};  // of one request, connection to last byte
  int max_redirects = 3;
};

struct SearchResult {
  std::string url;
  std::string title;
  std::string snippet;  // SearxNG's "content"
};

struct Page {
  std::string url;  // after redirects
  std::string title;
  std::string content_type;
  std::string text;
};

// The parts of an http(s) URL.
struct Url {
  std::string scheme;  // http or https
  std::string host;    // lower case
  int port = 0;
  std::string target;          // path and query, at least "/"
  std::string origin() const;  // scheme://host:port
  std::string str() const { return origin() + target; }
};

// Throws kInvalidArgument naming the URL when it is not http(s)://host[:port][/...].
Url parse_url(const std::string& url);

// Whether `url`'s host is allowed by one of `patterns`.
bool host_allowed(const Url& url, const std::vector<std::string>& patterns);

class WebClient {
 public:
  explicit WebClient(WebOptions options);

  bool can_search() const { return !options_.search_url.empty(); }
  const WebOptions& options() const { return options_; }

  // Up to `limit` results for `query`. Throws kFailedPrecondition without a search_url,
  // kUnavailable when the endpoint cannot be reached or answers with an error status,
  // kDataLoss when its answer is not SearxNG JSON.
  std::vector<SearchResult> search(const std::string& query, std::size_t limit) const;

  // The page at `url`. Throws kPermissionDenied when its host, or a redirect's, is not
  // allowed; kResourceExhausted past max_bytes; kDeadlineExceeded past the timeout;
  // kUnavailable when there is no answer or an error status; kInvalidArgument for a bad URL
  // or a content type that is not text.
  Page fetch(const std::string& url) const;

 private:
  WebOptions options_;
};

}  // namespace a4ps::web
