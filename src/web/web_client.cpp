#include "web/web_client.h"

#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/error.h"
#include "core/text.h"
#include "memory/ingest.h"

namespace a4ps::web {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string percent_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

// Where a redirect's Location points, relative to the URL that answered.
Url resolve(const Url& base, const std::string& location) {
  if (location.starts_with("http://") || location.starts_with("https://")) {
    return parse_url(location);
  }
  Url next = base;
  if (location.starts_with("//")) return parse_url(base.scheme + ":" + location);
  if (location.starts_with("/")) {
    next.target = location;
  } else {
    const std::string path = base.target.substr(0, base.target.find('?'));
    next.target = path.substr(0, path.rfind('/') + 1) + location;
  }
  return next;
}

std::string html_title(const std::string& html) {
  static const std::regex title("<title[^>]*>([^<]*)</title>", std::regex::icase);
  std::smatch m;
  const std::string head = html.substr(0, 64 * 1024);
  if (!std::regex_search(head, m, title)) return {};
  std::string t = m[1].str();
  t.erase(0, t.find_first_not_of(" \t\r\n"));
  t.erase(t.find_last_not_of(" \t\r\n") + 1);
  return valid_utf8(t);
}

struct Response {
  int status = 0;
  std::string content_type;
  std::string location;
  std::string body;
};

// One GET within the size and time limits; no redirect is followed.
Response get(const Url& url, const WebOptions& options) {
  httplib::Client client(url.origin());
  const auto started = Clock::now();
  const auto ms = options.timeout.count();
  client.set_connection_timeout(ms / 1000, (ms % 1000) * 1000);
  client.set_read_timeout(ms / 1000, (ms % 1000) * 1000);
  client.set_follow_location(false);
  Response response;
  bool too_large = false;
  bool too_slow = false;
  const httplib::Headers headers = {{"Accept", "text/html, text/plain, application/json"},
                                    {"User-Agent", "a4ps (BABS)"}};
  auto result = client.Get(
      url.target, headers,
      [&](const httplib::Response& r) {
        response.status = r.status;
        response.content_type = lower(r.get_header_value("Content-Type"));
        response.location = r.get_header_value("Location");
        const std::string length = r.get_header_value("Content-Length");
        if (!length.empty() && std::strtoull(length.c_str(), nullptr, 10) > options.max_bytes) {
          too_large = true;
          return false;
        }
        return true;
      },
      [&](const char* data, size_t length) {
        response.body.append(data, length);
        too_large = response.body.size() > options.max_bytes;
        too_slow = Clock::now() - started > options.timeout;
        return !too_large && !too_slow;
      });
  const std::string where = url.str();
  if (too_large) {
    throw Error(ErrorCode::kResourceExhausted, where + ": the response is larger than " +
                                                   std::to_string(options.max_bytes) +
                                                   " bytes ([tools] fetch limit)");
  }
  if (too_slow ||
      (!result && Clock::now() - started + std::chrono::milliseconds(50) >= options.timeout)) {
    throw Error(ErrorCode::kDeadlineExceeded,
                where + ": no complete answer within " + std::to_string(ms) + " ms");
  }
  if (!result) {
    throw Error(ErrorCode::kUnavailable,
                where + ": no response (" + httplib::to_string(result.error()) + ")");
  }
  return response;
}

}  // namespace

std::string Url::origin() const {
  return scheme + "://" + host + ":" + std::to_string(port);
}

Url parse_url(const std::string& text) {
  static const std::regex form(
      R"(^(https?)://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:([0-9]{1,5}))?([/?#].*)?$)");
  std::smatch m;
  if (!std::regex_match(text, m, form)) {
    throw_invalid_argument("URL \"" + text + "\": expected http(s)://host[:port][/path]");
  }
  Url url;
  url.scheme = lower(m[1].str());
  url.host = lower(m[2].str());
  url.port = m[4].matched ? std::stoi(m[4].str()) : (url.scheme == "https" ? 443 : 80);
  if (url.port < 1 || url.port > 65535) {
    throw_invalid_argument("URL \"" + text + "\": port " + m[4].str() + " is out of range");
  }
  url.target = m[5].matched ? m[5].str() : "/";
  url.target = url.target.substr(0, url.target.find('#'));
  if (url.target.empty() || url.target.front() != '/') url.target = "/" + url.target;
  return url;
}

bool host_allowed(const Url& url, const std::vector<std::string>& patterns) {
  for (const std::string& raw : patterns) {
    const std::string p = lower(raw);
    if (p.starts_with("*.")) {
      const std::string domain = p.substr(2);
      if (url.host == domain ||
          (url.host.size() > domain.size() && url.host.ends_with("." + domain))) {
        return true;
      }
    } else if (p == url.host || p == url.host + ":" + std::to_string(url.port)) {
      return true;
    }
  }
  return false;
}

WebClient::WebClient(WebOptions options) : options_(std::move(options)) {
  if (!options_.search_url.empty()) parse_url(options_.search_url);  // fails early when bad
}

std::vector<SearchResult> WebClient::search(const std::string& query, std::size_t limit) const {
  if (options_.search_url.empty()) {
    throw Error(ErrorCode::kFailedPrecondition, "no search endpoint: set [tools] search_url");
  }
  Url url = parse_url(options_.search_url);
  url.target += (url.target.find('?') == std::string::npos ? "?" : "&");
  url.target += "q=" + percent_encode(query) + "&format=json";
  const Response r = get(url, options_);
  if (r.status != 200) {
    throw Error(ErrorCode::kUnavailable,
                url.str() + ": the search endpoint answered HTTP " + std::to_string(r.status));
  }
  const auto body = nlohmann::json::parse(r.body, nullptr, false);
  if (!body.is_object() || !body.contains("results") || !body["results"].is_array()) {
    throw Error(ErrorCode::kDataLoss,
                url.str() + ": the search endpoint's answer is not SearxNG JSON (no \"results\")");
  }
  std::vector<SearchResult> out;
  for (const auto& item : body["results"]) {
    if (out.size() >= limit) break;
    if (!item.is_object() || !item.contains("url") || !item["url"].is_string()) continue;
    out.push_back({item["url"].get<std::string>(), valid_utf8(item.value("title", "")),
                   valid_utf8(item.value("content", ""))});
  }
  return out;
}

Page WebClient::fetch(const std::string& address) const {
  Url url = parse_url(address);
  for (int redirects = 0;; ++redirects) {
    if (!host_allowed(url, options_.allowed_hosts)) {
      throw Error(ErrorCode::kPermissionDenied,
                  (redirects == 0 ? address : address + " redirected to " + url.str()) + ": host " +
                      url.host + " is not in [tools] fetch_allowed_hosts");
    }
    const Response r = get(url, options_);
    if (r.status >= 300 && r.status < 400 && !r.location.empty()) {
      if (redirects >= options_.max_redirects) {
        throw Error(
            ErrorCode::kUnavailable,
            address + ": more than " + std::to_string(options_.max_redirects) + " redirects");
      }
      url = resolve(url, r.location);
      continue;
    }
    if (r.status != 200) {
      throw Error(ErrorCode::kUnavailable, url.str() + ": HTTP " + std::to_string(r.status));
    }
    Page page;
    page.url = url.str();
    page.content_type = r.content_type.substr(0, r.content_type.find(';'));
    if (page.content_type == "text/html" || page.content_type == "application/xhtml+xml") {
      page.title = html_title(r.body);
      page.text = valid_utf8(memory::html_to_text(r.body, page.url));
    } else if (page.content_type == "text/plain" || page.content_type == "text/markdown") {
      page.text = valid_utf8(r.body);
    } else {
      throw_invalid_argument(page.url + ": content type \"" + page.content_type +
                             "\" is not text (BABS reads HTML, plain text and Markdown)");
    }
    return page;
  }
}

}  // namespace a4ps::web
