// Note [per-ISA translation units], checked on the linked binary: baseline code must contain
// no AVX/AVX-512 instructions. If an inline function or template instantiated in an avx512/
// translation unit were merged by the linker with a baseline copy, zmm registers would show up
// in a function outside namespace ...::avx512 — and an old CPU running the generic target
// would die with SIGILL.
//
// Disassembles this very executable (which links the kernel objects of tapegrad_core: it calls
// into them below) with `objdump -d -C` and, for every function, requires:
//   uses zmm / opmask registers  ⇒  its name contains "avx512::"
//   uses ymm registers           ⇒  its name contains "avx2::" or "avx512::"
// Skipped (exit 0 with a message) when objdump is not installed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "tapegrad/kernels.h"

namespace tk = tapegrad::kernels;

int main() {
  // Reference every kernel family so the linker keeps their objects in this binary.
  float a[4] = {1, 2, 3, 4}, c[4] = {0, 0, 0, 0};
  tk::gemm_f32(false, false, 2, 2, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2);
  tk::unary_f32(tk::Unary::exp, 4, a, c);
  tk::binary_f32(tk::Binary::add, 4, a, 1, a, 1, c);
  tk::set_num_threads(1);
  std::printf("linked kernels; selected target %s\n", tk::arch_name(tk::selected_arch()));

  if (std::system("objdump --version > /dev/null 2>&1") != 0) {
    std::printf("SKIP: objdump not found\n");
    return 0;
  }
  // objdump runs as a child, where /proc/self/exe is objdump itself: pass our own path.
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len <= 0) {
    std::printf("SKIP: cannot resolve /proc/self/exe\n");
    return 0;
  }
  self[len] = 0;
  const std::string cmd = std::string("objdump -d -C --no-show-raw-insn '") + self + "' 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return 1;

  const std::regex header(R"(^[0-9a-f]+ <(.*)>:$)");
  const std::regex zmm(R"(%zmm[0-9]|%k[1-7]\b)"), ymm(R"(%ymm[0-9])");
  std::string fn, line;
  int functions = 0, simd_functions = 0, bad = 0;
  bool fn_zmm = false, fn_ymm = false;
  auto finish = [&] {
    if (fn.empty()) return;
    ++functions;
    // A name objdump could not demangle (a lambda inside a lambda of a kernel template, say)
    // stays mangled: there the namespace reads N8tapegrad7kernels6avx512 (length-prefixed).
    auto in = [&](const char* ns, const char* mangled) {
      return fn.find(ns) != std::string::npos || fn.find(mangled) != std::string::npos;
    };
    const bool in512 = in("avx512::", "8tapegrad7kernels6avx512");
    const bool in2 = in("avx2::", "8tapegrad7kernels4avx2");
    if (fn_zmm || fn_ymm) ++simd_functions;
    if (fn_zmm && !in512) {
      if (++bad <= 20) std::fprintf(stderr, "FAIL: AVX-512 registers in %s\n", fn.c_str());
    } else if (fn_ymm && !in512 && !in2) {
      if (++bad <= 20) std::fprintf(stderr, "FAIL: AVX registers in %s\n", fn.c_str());
    }
  };
  char buf[8192];
  while (fgets(buf, sizeof(buf), p)) {
    line = buf;
    if (!line.empty() && line.back() == '\n') line.pop_back();
    std::smatch m;
    if (!line.empty() && line[0] != ' ' && std::regex_match(line, m, header)) {
      finish();
      fn = m[1];
      fn_zmm = fn_ymm = false;
      continue;
    }
    if (line.find('%') == std::string::npos) continue;
    if (!fn_zmm && std::regex_search(line, zmm)) fn_zmm = true;
    if (!fn_ymm && std::regex_search(line, ymm)) fn_ymm = true;
  }
  finish();
  pclose(p);
  std::printf("%d functions disassembled, %d use ymm/zmm (all inside avx2::/avx512::); %d "
              "violations\n",
              functions, simd_functions, bad);
  if (functions == 0) {
    std::printf("SKIP: objdump produced no output\n");
    return 0;
  }
  return bad == 0 ? 0 : 1;
}
