#include "memory/ingest.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "core/error.h"
#include "core/text.h"
#include "support/errors.h"
#include "support/test_models.h"

namespace a4ps::memory {
namespace {

std::filesystem::path write(const std::string& name, const std::string& bytes) {
  const auto dir = testing::scratch_dir() / "ingest";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
  return dir / name;
}

using testing::code_of;

// A one-page PDF with the text `line`, its cross-reference table computed from the offsets.
std::string one_line_pdf(const std::string& line) {
  const std::string stream = "BT /F1 12 Tf 72 720 Td (" + line + ") Tj ET";
  const std::vector<std::string> objects = {
      "<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
      "/Resources << /Font << /F1 5 0 R >> >> >>",
      "<< /Length " + std::to_string(stream.size()) + " >>\nstream\n" + stream + "\nendstream",
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"};
  std::string pdf = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (const size_t o : offsets) {
    const std::string n = std::to_string(o);
    pdf += std::string(10 - n.size(), '0') + n + " 00000 n \n";
  }
  pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) +
         " /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

TEST(Ingest, ChunksOverlapBreakAtBoundariesAndNeverSplitACharacter) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Sentence number " + std::to_string(i) + " about żółw. ";
  const auto chunks = chunk_text(text, 300, 60);
  ASSERT_GT(chunks.size(), 3u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_LE(chunks[i].text.size(), 300u);
    EXPECT_EQ(chunks[i].text, valid_utf8(chunks[i].text));
    EXPECT_EQ(text.substr(chunks[i].offset, chunks[i].text.size()), chunks[i].text);
    if (i > 0) {
      const size_t previous_end = chunks[i - 1].offset + chunks[i - 1].text.size();
      EXPECT_LT(chunks[i].offset, previous_end);  // overlap
      EXPECT_GT(chunks[i].offset, chunks[i - 1].offset);
    }
  }
  EXPECT_EQ(chunks.back().offset + chunks.back().text.size(), text.size());
  EXPECT_EQ(chunks[0].text.back(), ' ');  // cut after a sentence
  EXPECT_TRUE(chunk_text("   \n\n  ").empty());
}

TEST(Ingest, ReadsTextMarkdownHtmlAndPdf) {
  EXPECT_EQ(extract_text(write("a.md", "# Atlas\n\nFood banks.")), "# Atlas\n\nFood banks.");
  const std::string html = extract_text(
      write("a.html",
            "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
            "<h1>Atlas</h1><p>Food &amp; clinics</p><p>Open at eight</p></body></html>"));
  EXPECT_NE(html.find("Atlas"), std::string::npos);
  EXPECT_NE(html.find("Food & clinics"), std::string::npos);
  EXPECT_NE(html.find("Open at eight"), std::string::npos);
  EXPECT_EQ(html.find("alert"), std::string::npos);
  EXPECT_EQ(html.find("color"), std::string::npos);
  const std::string pdf = extract_text(write("a.pdf", one_line_pdf("The atlas opens at eight")));
  EXPECT_NE(pdf.find("The atlas opens at eight"), std::string::npos) << pdf;
}

TEST(Ingest, BadFilesAreRefusedWithTheirReason) {
  EXPECT_EQ(code_of([] { extract_text(testing::scratch_dir() / "ingest" / "none.txt"); }),
            ErrorCode::kNotFound);
  EXPECT_EQ(code_of([] { extract_text(write("b.txt", std::string("a\0b", 3))); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { extract_text(write("b.docx", "PK")); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { extract_text(write("b.pdf", "not a pdf at all")); }),
            ErrorCode::kDataLoss);
}

TEST(Ingest, ADirectoryOrFifoIsNamedForWhatItIs) {
  const auto dir = testing::scratch_dir() / "ingest" / "folder.md";
  std::filesystem::create_directories(dir);
  try {
    extract_text(dir);
    ADD_FAILURE() << "a directory was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
  const auto fifo = testing::scratch_dir() / "ingest" / "pipe.txt";
  std::filesystem::remove(fifo);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  try {
    extract_text(fifo);  // must not block reading it
    ADD_FAILURE() << "a FIFO was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("is a FIFO"), std::string::npos) << e.what();
  }
}

TEST(Ingest, TextThatIsNotUtf8IsRepairedAndImportable) {
  // "café" in Latin-1: one byte that is not UTF-8.
  EXPECT_EQ(extract_text(write("latin1.txt", "caf\xE9 au lait")), "caf\xEF\xBF\xBD au lait");
  EXPECT_TRUE(is_importable("notes/A.MD"));
  EXPECT_FALSE(is_importable("photo.png"));
}

}  // namespace
}  // namespace a4ps::memory
