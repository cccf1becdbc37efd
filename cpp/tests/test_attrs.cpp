// AttrBox (Note [typed attributes] in tapegrad/attrs.h): inline and heap storage, moves,
// destruction, and the typed accessor.
#include "tapegrad/attrs.h"

#include <array>
#include <cstdio>
#include <memory>
#include <vector>

#include "check.h"

using namespace tapegrad;

namespace {
struct Flags {
  bool a, b;
};
struct Dims {  // a vector and a flag: the largest attribute struct of the built-in ops
  std::vector<int64_t> dims;
  bool keepdim;
};
struct Big {  // larger than the inline buffer: lives on the heap
  std::array<int64_t, 16> v;
  std::shared_ptr<int> alive;
};
}  // namespace

int main() {
  static_assert(sizeof(Dims) <= AttrBox::kInline, "ReduceAttrs-like structs must stay inline");
  {
    AttrBox empty;
    CHECK(empty.empty());
    AttrBox moved(std::move(empty));
    CHECK(moved.empty());
  }
  {
    AttrBox box(Flags{true, false});
    CHECK(!box.empty() && box.holds<Flags>() && !box.holds<Dims>());
    CHECK(box.get<Flags>().a && !box.get<Flags>().b);
  }
  {
    AttrBox box(Dims{{0, 2, 5}, true});
    AttrBox other(std::move(box));
    CHECK(box.empty());
    CHECK(other.get<Dims>().dims.size() == 3 && other.get<Dims>().dims[2] == 5);
    CHECK(other.get<Dims>().keepdim);
    AttrBox third;
    third = std::move(other);
    CHECK(other.empty() && third.get<Dims>().dims[1] == 2);
  }
  {
    auto token = std::make_shared<int>(7);
    {
      Big big{};
      big.v[15] = 42;
      big.alive = token;
      AttrBox box(std::move(big));
      CHECK(token.use_count() == 2);
      AttrBox other(std::move(box));
      CHECK(other.get<Big>().v[15] == 42 && *other.get<Big>().alive == 7);
      CHECK(token.use_count() == 2);
      other = AttrBox(Flags{false, true});  // the heap block is freed on reassignment
      CHECK(token.use_count() == 1 && other.get<Flags>().b);
      other = AttrBox(Big{{}, token});
      CHECK(token.use_count() == 2);
    }
    CHECK(token.use_count() == 1);  // and on destruction
  }
  {
    auto token = std::make_shared<int>(1);
    struct Holder {
      std::shared_ptr<int> p;
    };
    AttrBox box(Holder{token});
    CHECK(token.use_count() == 2);
    box.reset();
    CHECK(box.empty() && token.use_count() == 1);
  }
  if (failures == 0) std::printf("test_attrs: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
