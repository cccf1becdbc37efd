// The small CHECK harness of the C++ engine tests: a failed condition is printed with its
// file and line and counted in `failures`; main returns failures == 0 ? 0 : 1.
#pragma once

#include <cstdio>

static int failures = 0;
#define CHECK(cond)                                               \
  do {                                                            \
    if (!(cond)) {                                                \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                 \
    }                                                             \
  } while (0)
