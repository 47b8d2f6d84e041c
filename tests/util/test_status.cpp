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

}  // namespace
}  // namespace relgeo
