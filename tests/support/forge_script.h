// A scripted author for the Tool Forge's tests: BRICK's answers for a word counter, buggy or
// fixed, as the forge's attempt schema wants them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace a4ps::testing {

inline constexpr const char* kBuggyWordCount = "    return len(text.split(' ')) + 1";
inline constexpr const char* kFixedWordCount = "    return len(text.split())";

// One attempt's answer; `body` is the function's body, `tests` replaces the good tests.
inline nlohmann::json word_count_answer(const std::string& body, const std::string& tests = "") {
  return {{"name", "word_count"},
          {"signature", "def word_count(text: str) -> int"},
          {"docstring", "How many whitespace-separated words `text` has."},
          {"examples", nlohmann::json::array({{{"arguments", {{"text", "a b"}}}, {"result", 2}}})},
          {"code", "def word_count(text):\n" + body + "\n"},
          {"tests", tests.empty() ? "from tool import word_count\n\n"
                                    "def test_counts_words():\n"
                                    "    assert word_count('the quick brown fox') == 4\n\n"
                                    "def test_empty():\n"
                                    "    assert word_count('') == 0\n"
                                  : tests}};
}

}  // namespace a4ps::testing
