// forge/sandbox: the parts that need no runtime (sanitising, limits, request validation) and a
// few runs that pin the result's shape. The adversarial suite is sandbox_adversarial_test.cpp.
#include "forge/sandbox.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "support/errors.h"

namespace a4ps::forge {
namespace {

using a4ps::testing::code_of;
namespace fs = std::filesystem;

std::string clean(std::string_view text, size_t max = 1000, bool* truncated = nullptr) {
  bool t = false;
  std::string out = sanitize_output(text, max, &t);
  if (truncated != nullptr) *truncated = t;
  return out;
}

TEST(SandboxSanitize, keeps_text_newlines_and_tabs) {
  EXPECT_EQ(clean("hello\n\tworld é 漢字 🙂"), "hello\n\tworld é 漢字 🙂");
}

TEST(SandboxSanitize, removes_terminal_escapes_and_controls) {
  EXPECT_EQ(clean("\x1b[31mred\x1b[0m"), "red");
  EXPECT_EQ(clean("a\x1b]0;evil title\x07"
                  "b"),
            "ab");
  EXPECT_EQ(clean("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b"), "alinkb");
  EXPECT_EQ(clean("over\rwrite\b\x07\x7f!"), "overwrite!");
  EXPECT_EQ(clean("a\xc2\x9b"
                  "2Jb"),
            "ab");                           // C1 CSI
  EXPECT_EQ(clean("x\xe2\x80\xaey"), "xy");  // right-to-left override
  EXPECT_EQ(clean(std::string("nul\0byte", 8)), "nulbyte");
}

TEST(SandboxSanitize, replaces_invalid_utf8) {
  EXPECT_EQ(clean("a\xff"
                  "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(clean("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
  EXPECT_EQ(clean("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(clean("\xe6\xbc"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // cut sequence
}

TEST(SandboxSanitize, truncates_on_a_character_boundary) {
  bool truncated = false;
  EXPECT_EQ(clean("ab漢字", 4, &truncated), "ab");
  EXPECT_TRUE(truncated);
  EXPECT_EQ(clean("abc", 3, &truncated), "abc");
  EXPECT_FALSE(truncated);
}

TEST(SandboxSanitize, is_idempotent_on_arbitrary_bytes) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  const std::string once = clean(all + all, 4096);
  EXPECT_EQ(clean(once, 4096), once);
  EXPECT_EQ(once.find('\x1b'), std::string::npos);
}

TEST(SandboxLimits, come_from_the_config) {
  SandboxConfig config;
  config.wall_ms = 1234;
  config.cpu_ms = 567;
  config.memory_mb = 89;
  config.max_processes = 7;
  config.max_output_bytes = 4096;
  config.tmp_size_mb = 3;
  const SandboxLimits l = SandboxLimits::from_config(config);
  EXPECT_EQ(l.wall_ms, 1234);
  EXPECT_EQ(l.cpu_ms, 567);
  EXPECT_EQ(l.memory_mb, 89);
  EXPECT_EQ(l.max_processes, 7);
  EXPECT_EQ(l.max_output_bytes, 4096);
  EXPECT_EQ(l.tmp_size_mb, 3);
}

TEST(SandboxNames, are_stable) {
  EXPECT_EQ(runtime_name(SandboxRuntime::kRunsc), "runsc");
  EXPECT_EQ(runtime_name(SandboxRuntime::kBwrap), "bwrap");
  EXPECT_EQ(stop_reason_name(StopReason::kWallTimeout), "wall_timeout");
  EXPECT_EQ(stop_reason_name(StopReason::kOutputLimit), "output_limit");
  EXPECT_EQ(stop_reason_name(StopReason::kStartFailed), "start_failed");
}

TEST(SandboxCreate, rejects_an_unknown_runtime) {
  SandboxConfig config;
  config.runtime = "docker";
  std::string message;
  EXPECT_EQ(code_of([&] { Sandbox::create(config); }, &message), ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("docker"), std::string::npos) << message;
}

class SandboxRequests : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SandboxConfig config;
    config.runtime = "bwrap";
    sandbox_ = Sandbox::create(config).release();
  }
  static void TearDownTestSuite() { delete sandbox_; }
  static ErrorCode code_for(const SandboxRequest& request, std::string* message = nullptr) {
    return code_of([&] { sandbox_->run(request); }, message);
  }
  static SandboxRequest valid() {
    SandboxRequest r;
    r.argv = {"/usr/bin/python3", "-c", "print(1)"};
    return r;
  }
  static Sandbox* sandbox_;
};
Sandbox* SandboxRequests::sandbox_ = nullptr;

TEST_F(SandboxRequests, malformed_ones_are_rejected_with_invalid_argument) {
  SandboxRequest r = valid();
  r.argv.clear();
  EXPECT_EQ(code_for(r), ErrorCode::kInvalidArgument);
  for (const char* path : {"../escape.py", "/abs.py", "a/../../b", "", "./x"}) {
    r = valid();
    r.files.push_back({path, "x"});
    std::string message;
    EXPECT_EQ(code_for(r, &message), ErrorCode::kInvalidArgument) << path;
  }
  for (const char* name : {"lower", "1ABC", "A-B", ""}) {
    r = valid();
    r.env.emplace_back(name, "v");
    EXPECT_EQ(code_for(r), ErrorCode::kInvalidArgument) << name;
  }
  r = valid();
  r.files = {{"a", "x"}, {"a/b.py", "y"}};
  EXPECT_EQ(code_for(r), ErrorCode::kInvalidArgument);
  r.files = {{"a/b.py", "y"}, {"a", "x"}};
  EXPECT_EQ(code_for(r), ErrorCode::kInvalidArgument);
  r = valid();
  r.limits.memory_mb = 0;
  std::string message;
  EXPECT_EQ(code_for(r, &message), ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("memory_mb = 0"), std::string::npos) << message;
}

TEST_F(SandboxRequests, invalid_utf8_is_rejected_with_invalid_argument) {
  SandboxRequest r = valid();
  r.argv = {"/usr/bin/python3", "-c", "print(1)#\xff"};
  std::string message;
  EXPECT_EQ(code_for(r, &message), ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("argument 2"), std::string::npos) << message;
  r = valid();
  r.env.emplace_back("MY_VAR", "bad \xc0\xaf overlong");
  EXPECT_EQ(code_for(r, &message), ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("MY_VAR"), std::string::npos) << message;
  r = valid();
  r.files.push_back({"t\xff.py", "x"});
  EXPECT_EQ(code_for(r, &message), ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("UTF-8"), std::string::npos) << message;
  r = valid();
  r.argv.push_back("caf\xc3\xa9 \xe6\xbc\xa2");  // valid UTF-8 passes
  EXPECT_NO_THROW(sandbox_->run(r));
}

// Run directories go in $TMPDIR/a4ps-sandbox-<euid>, which must be ours and 0700.
TEST_F(SandboxRequests, a_run_parent_that_is_not_private_is_refused) {
  const char* old_tmpdir = std::getenv("TMPDIR");
  const std::string saved = old_tmpdir != nullptr ? old_tmpdir : "";
  const fs::path tmp =
      fs::temp_directory_path() / ("a4ps-parent-test-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  ::setenv("TMPDIR", tmp.c_str(), 1);
  const fs::path parent = tmp / ("a4ps-sandbox-" + std::to_string(::geteuid()));
  std::string message;
  EXPECT_NO_THROW(sandbox_->run(valid()));  // made when missing, 0700
  EXPECT_EQ(fs::status(parent).permissions(), fs::perms::owner_all);
  fs::permissions(parent, fs::perms(0755));
  EXPECT_EQ(code_for(valid(), &message), ErrorCode::kUnavailable);
  EXPECT_NE(message.find(parent.string()), std::string::npos) << message;
  EXPECT_NE(message.find("0755"), std::string::npos) << message;
  fs::remove_all(parent);
  fs::create_directories(tmp / "elsewhere");
  fs::permissions(tmp / "elsewhere", fs::perms(0700));
  fs::create_directory_symlink(tmp / "elsewhere", parent);
  EXPECT_EQ(code_for(valid(), &message), ErrorCode::kUnavailable);
  EXPECT_NE(message.find("symbolic link"), std::string::npos) << message;
  if (old_tmpdir != nullptr)
    ::setenv("TMPDIR", saved.c_str(), 1);
  else
    ::unsetenv("TMPDIR");
  fs::remove_all(tmp);
}

TEST_F(SandboxRequests, a_tool_gets_its_files_stdin_env_and_exit_code) {
  SandboxRequest r;
  r.argv = {"/usr/bin/python3", "/work/pkg/tool.py", "arg"};
  r.files = {{"pkg/tool.py",
              "import sys, os, json\n"
              "data = sys.stdin.read()\n"
              "print(json.dumps({'in': data, 'arg': sys.argv[1], 'env': os.environ['MY_VAR'],"
              " 'cwd': os.getcwd()}))\n"
              "sys.exit(3)\n"}};
  r.stdin_data = "from stdin";
  r.env = {{"MY_VAR", "my value"}};
  const SandboxResult result = sandbox_->run(r);
  ASSERT_EQ(result.stop, StopReason::kExited) << result.detail << result.stderr_text;
  EXPECT_EQ(result.exit_code, 3);
  const auto j = nlohmann::json::parse(result.stdout_text);
  EXPECT_EQ(j["in"], "from stdin");
  EXPECT_EQ(j["arg"], "arg");
  EXPECT_EQ(j["env"], "my value");
  EXPECT_EQ(j["cwd"], "/work");
  const auto shape = result_json(result);
  EXPECT_EQ(shape["stop"], "exited");
  EXPECT_EQ(shape["exit_code"], 3);
  EXPECT_EQ(shape["runtime"], "bwrap");
}

TEST_F(SandboxRequests, a_missing_command_is_a_start_failure) {
  SandboxRequest r;
  r.argv = {"/usr/bin/no-such-tool"};
  const SandboxResult result = sandbox_->run(r);
  EXPECT_EQ(result.stop, StopReason::kStartFailed) << result.detail;
  EXPECT_NE(result.detail.find("no-such-tool"), std::string::npos) << result.detail;
}

}  // namespace
}  // namespace a4ps::forge
