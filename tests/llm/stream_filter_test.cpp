#include "llm/stream_filter.h"

#include <gtest/gtest.h>

namespace a4ps::llm {
namespace {

TEST(StreamFilter, PassesTextThroughWithoutStopStrings) {
  StreamFilter f({});
  EXPECT_EQ(f.push("Hello"), "Hello");
  EXPECT_EQ(f.push(" world"), " world");
  EXPECT_EQ(f.finish(), "");
  EXPECT_EQ(f.text(), "Hello world");
}

TEST(StreamFilter, HoldsBackAnIncompleteUtf8Character) {
  StreamFilter f({});
  const std::string euro = "\xE2\x82\xAC";
  EXPECT_EQ(f.push("a" + euro.substr(0, 2)), "a");
  EXPECT_EQ(f.push(euro.substr(2)), euro);
  EXPECT_EQ(f.text(), "a" + euro);
}

TEST(StreamFilter, StopStringSplitAcrossPiecesIsNeverShown) {
  StreamFilter f({"<|end|>"});
  EXPECT_EQ(f.push("answer <|e"), "answer ");
  EXPECT_EQ(f.push("nd|> trailing"), "");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.finish(), "");
  EXPECT_EQ(f.text(), "answer ");
}

TEST(StreamFilter, AFalseStartOfAStopStringIsReleased) {
  StreamFilter f({"STOP"});
  EXPECT_EQ(f.push("ST"), "");
  EXPECT_EQ(f.push("AR"), "STAR");
  EXPECT_EQ(f.push("ST"), "");
  EXPECT_EQ(f.finish(), "ST");
  EXPECT_EQ(f.text(), "STARST");
  EXPECT_FALSE(f.stopped());
}

TEST(StreamFilter, PiecesAlwaysConcatenateToTheText) {
  StreamFilter f({"xyz", "\n\n"});
  std::string streamed;
  for (const char* piece : {"ab", "cx", "y", "q\n", "r", "\xC3", "\xA9", "\n", "\nlost"}) {
    streamed += f.push(piece);
  }
  streamed += f.finish();
  EXPECT_EQ(streamed, f.text());
  EXPECT_EQ(f.text(), "abcxyq\nr\xC3\xA9");
}

TEST(IncompleteUtf8Tail, CountsOnlyUnfinishedSequences) {
  EXPECT_EQ(incomplete_utf8_tail("abc"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("a\xC3"), 1u);
}

}  // namespace
}  // namespace a4ps::llm
