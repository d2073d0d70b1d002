#include "core/text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace a4ps {
namespace {

TEST(Text, ValidUtf8KeepsWellFormedTextAndReplacesEveryBadByte) {
  EXPECT_EQ(valid_utf8("plain ascii"), "plain ascii");
  EXPECT_EQ(valid_utf8("żółw, 猫, 🙂"), "żółw, 猫, 🙂");
  EXPECT_EQ(valid_utf8("a\xCC"), "a\xEF\xBF\xBD");                // a lead byte cut off
  EXPECT_EQ(valid_utf8("\x80x"), "\xEF\xBF\xBDx");                // a stray continuation byte
  EXPECT_EQ(valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // an overlong encoding
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(valid_utf8(std::string_view("\0z", 2)), std::string("\0z", 2));
}

// A goal's result summary cut a model's answer inside a character, and /v1/goals/ID answered
// 500 (nlohmann::json cannot dump invalid UTF-8).
TEST(Text, Utf8PrefixNeverEndsInsideACharacter) {
  EXPECT_EQ(utf8_prefix("short", 10), "short");
  EXPECT_EQ(utf8_prefix("abcdef", 3), "abc…");
  const std::string arrows =
      "ab\xE2\x9F\xB6"
      "cd";  // "ab⟶cd": the arrow is bytes 2..4
  for (size_t cut = 0; cut < arrows.size(); ++cut) {
    const std::string prefix = utf8_prefix(arrows, cut);
    EXPECT_EQ(valid_utf8(prefix), prefix) << "cut at " << cut;
    EXPECT_NO_THROW((void)nlohmann::json(prefix).dump()) << "cut at " << cut;
  }
  EXPECT_EQ(utf8_prefix(arrows, 3), "ab…");
  EXPECT_EQ(utf8_prefix(arrows, 5), "ab\xE2\x9F\xB6…");
}

}  // namespace
}  // namespace a4ps
