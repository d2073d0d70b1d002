#include "cli/runtime_access.h"

#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "core/error.h"
#include "image/image.h"

namespace a4ps::cli {
namespace {

std::string from_env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// `text` as one shell word.
std::string shell_word(const std::string& text) {
  const bool plain = !text.empty() && text.find_first_not_of(
                                          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_-./:=@%+,") == std::string::npos;
  if (plain) return text;
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

std::filesystem::path selected_image_dir(const GlobalOptions& options) {
  return options.image_path.empty() ? default_image_dir()
                                    : std::filesystem::path(options.image_path);
}

std::string with_invocation_in_hints(const std::string& message, const GlobalOptions& options) {
  const std::string prefix = a4ps_command(options, "");  // "a4ps [--image DIR ...] "
  if (prefix == "a4ps ") return message;
  std::string out;
  size_t from = 0;
  for (size_t at = message.find("a4ps "); at != std::string::npos;
       at = message.find("a4ps ", at + 5)) {
    const bool word_start = at == 0 || !std::isalnum(static_cast<unsigned char>(message[at - 1]));
    const bool command_follows =
        at + 5 < message.size() && std::islower(static_cast<unsigned char>(message[at + 5]));
    if (!word_start || !command_follows) continue;  // "a4ps --image ..." is complete already
    out += message.substr(from, at - from) + prefix;
    from = at + 5;
  }
  return out + message.substr(from);
}

std::string a4ps_command(const GlobalOptions& options, const std::string& rest) {
  std::string command = "a4ps";
  const std::filesystem::path image = selected_image_dir(options);
  const char* env = std::getenv("A4PS_IMAGE");
  const bool default_image = options.image_path.empty() && (env == nullptr || *env == '\0');
  if (!default_image) command += " --image " + shell_word(image.string());
  if (!options.config_path.empty()) command += " --config " + shell_word(options.config_path);
  if (!options.codex_path.empty()) command += " --codex " + shell_word(options.codex_path);
  return command + " " + rest;
}

runtime::RuntimeOptions runtime_options(const GlobalOptions& options) {
  runtime::RuntimeOptions o;
  o.image_dir = selected_image_dir(options);
  o.config_path = options.config_path.empty() ? from_env("A4PS_CONFIG") : options.config_path;
  o.config_fallback = "config.toml";
  o.codex_path = options.codex_path.empty() ? from_env("A4PS_CODEX") : options.codex_path;
  o.resume_command = [options](const std::string& thread_id) {
    return a4ps_command(options, "resume " + thread_id);
  };
  o.on_index_progress = count_progress_printer("building the vector index");
  return o;
}

std::unique_ptr<runtime::Runtime> open_runtime(const GlobalOptions& options) {
  apply_verbosity(options);
  return runtime::Runtime::open(runtime_options(options));
}

std::unique_ptr<graph::Checkpointer> open_image_for_reading(const GlobalOptions& options) {
  return runtime::open_state_read_only(selected_image_dir(options));
}

namespace {

std::atomic<bool> g_ctrl_c{false};

extern "C" void on_ctrl_c(int) {
  g_ctrl_c.store(true);
}

}  // namespace

CancelOnCtrlC::CancelOnCtrlC() {
  g_ctrl_c.store(false);
  std::signal(SIGINT, on_ctrl_c);
  watcher_ = std::jthread([this](std::stop_token done) {
    while (!done.stop_requested()) {
      if (g_ctrl_c.load()) {
        std::fprintf(stderr, "\nstopping at the next step (Ctrl-C); the run stays resumable\n");
        stop_.request_stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

CancelOnCtrlC::~CancelOnCtrlC() {
  watcher_.request_stop();
  watcher_.join();
  std::signal(SIGINT, SIG_DFL);
}

std::function<void(std::int64_t, std::int64_t)> count_progress_printer(std::string label) {
  const bool tty = stderr_is_terminal();
  return [tty, label = std::move(label)](std::int64_t done, std::int64_t total) {
    if (tty || done == total) {
      std::fprintf(stderr, "%s%s: %lld of %lld%s", tty ? "\r\033[K" : "", label.c_str(),
                   static_cast<long long>(done), static_cast<long long>(total),
                   done == total ? "\n" : "");
    }
  };
}

std::function<void(const std::string&, float)> load_progress_printer() {
  const bool tty = stderr_is_terminal();
  auto last = std::make_shared<std::map<std::string, int>>();
  return [tty, last](const std::string& name, float progress) {
    const int percent = static_cast<int>(progress * 100.0f);
    int& shown = (*last)[name];
    if (tty) {
      std::fprintf(stderr, "\r\033[Kloading %s ... %d%%%s", name.c_str(), percent,
                   percent >= 100 ? "\n" : "");
    } else if (percent >= 100 && shown < 100) {
      std::fprintf(stderr, "loaded %s\n", name.c_str());
    }
    shown = percent;
  };
}

}  // namespace a4ps::cli
