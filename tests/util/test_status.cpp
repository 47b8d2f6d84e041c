// Status and Result<T> (include/relgeo/status.h, src/util/status.cpp).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "relgeo/status.h"

namespace relgeo {
namespace {

TEST(Result, ValueAndStatus) {
  Result<std::string> r = std::string("abc");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value(), "abc");
  EXPECT_EQ(*r, "abc");
  EXPECT_EQ(r->size(), 3u);
  std::string moved = std::move(r).value();
  EXPECT_EQ(moved, "abc");

  Result<int> e = Status::NotFound("no such model 'x'");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(e.status().ToString(), "NotFound: no such model 'x'");
  // An OK status is not a value: it becomes an Internal error rather than an empty "success".
  Result<int> bogus = Status::OK();
  EXPECT_FALSE(bogus.ok());
  EXPECT_EQ(bogus.status().code(), StatusCode::kInternal);
}

// Reading the value of an error Result is a programming error. It must stop the
// process with the status in the message, in every build type, instead of handing
// back whatever bytes happen to lie in the empty optional. (One child process per
// EXPECT_DEATH, re-executed for thread safety: one check per accessor overload.)
TEST(ResultDeathTest, AccessingTheValueOfAnErrorAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Result<int> r = Status::NotFound("no such model 'x'");
  const Result<int>& cr = r;
  EXPECT_DEATH((void)r.value(), "value\\(\\) called on an error Result: NotFound: no such model 'x'");
  EXPECT_DEATH((void)cr.value(), "NotFound: no such model 'x'");
  EXPECT_DEATH((void)*cr, "operator\\* called on an error Result: NotFound: no such model 'x'");

  Result<std::string> s = Status::Corruption("file.npy is damaged");
  const Result<std::string>& cs = s;
  EXPECT_DEATH((void)s->size(), "Corruption: file.npy is damaged");
  EXPECT_DEATH((void)cs->size(), "Corruption: file.npy is damaged");

  Result<std::unique_ptr<int>> p = Status::InvalidArgument("bad shape");
  EXPECT_DEATH((void)**p, "InvalidArgument: bad shape");
  EXPECT_DEATH((void)std::move(p).value(), "InvalidArgument: bad shape");
}

// Untrusted text in messages: control characters and bytes that are not UTF-8 come
// out as escapes; printable ASCII and valid UTF-8 as they are.
TEST(PrintableText, EscapesControlsAndInvalidUtf8Only) {
  EXPECT_EQ(PrintableText("plain-name_1.2 (ok) 'x'"), "plain-name_1.2 (ok) 'x'");
  EXPECT_EQ(PrintableText("a\x1b[31mb"), "a\\x1b[31mb");
  EXPECT_EQ(PrintableText("line\nnext\ttab\rcr"), "line\\nnext\\ttab\\rcr");
  EXPECT_EQ(PrintableText(std::string("nul\0del\x7f", 8)), "nul\\x00del\\x7f");
  EXPECT_EQ(PrintableText("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(PrintableText("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(PrintableText("\xc3"), "\\xc3");                    // truncated sequence
  EXPECT_EQ(PrintableText("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(PrintableText("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(PrintableText("\xc2\x9b" "2J"), "\\u009b2J");       // C1 CSI as a code point
  const std::string out = PrintableText(std::string("\x01\x02\x1b\x7f\n", 5));
  for (unsigned char c : out) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << out;
}

}  // namespace
}  // namespace relgeo
