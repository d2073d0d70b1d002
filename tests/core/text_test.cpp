#include "core/text.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace a4ps
