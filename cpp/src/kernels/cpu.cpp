// CPU detection (once), the choice of target (TAPEGRAD_ARCH, set_arch) and the active kernel
// table. The public entry points that go through it are in dispatch.cpp.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "kernels/table.h"

#if TAPEGRAD_HAVE_X86_SIMD
#include <cpuid.h>
#endif

namespace tapegrad::kernels {

namespace {

#if TAPEGRAD_HAVE_X86_SIMD
uint64_t read_xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}
#endif

CpuInfo detect() {
  CpuInfo info;
  info.available.push_back(Arch::generic);
#if TAPEGRAD_HAVE_X86_SIMD
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d)) {
    char vendor[13];
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    info.vendor = vendor;
  }
  const unsigned max_leaf = a;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    info.sse42 = c & (1u << 20);
    info.avx = c & (1u << 28);
    info.fma = c & (1u << 12);
    info.f16c = c & (1u << 29);
    const bool osxsave = c & (1u << 27);
    if (osxsave) {
      const uint64_t xcr0 = read_xcr0();
      info.os_avx = (xcr0 & 0x6) == 0x6;            // XMM and YMM state
      info.os_avx512 = (xcr0 & 0xe6) == 0xe6;       // + opmask, ZMM_Hi256, Hi16_ZMM
    }
  }
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    info.avx2 = b & (1u << 5);
    info.avx512f = b & (1u << 16);
    info.avx512dq = b & (1u << 17);
    info.avx512bw = b & (1u << 30);
    info.avx512vl = b & (1u << 31);
  }
  if (info.avx && info.avx2 && info.fma && info.os_avx) info.available.push_back(Arch::avx2);
  if (info.avx512f && info.avx512bw && info.avx512dq && info.avx512vl && info.os_avx512 &&
      info.fma)
    info.available.push_back(Arch::avx512);
#endif
  info.selected = info.available.back();
  return info;
}

CpuInfo& info_mut() {
  static CpuInfo info = detect();
  return info;
}

KernelTable build(Arch arch) {
  KernelTable t{};
  ref::fill_table(t);
#if TAPEGRAD_HAVE_X86_SIMD
  if (arch == Arch::avx2 || arch == Arch::avx512) avx2::fill_table(t);
  if (arch == Arch::avx512) avx512::fill_table(t);
#endif
  return t;
}

bool supported(Arch arch) {
  for (Arch a : info_mut().available)
    if (a == arch) return true;
  return false;
}

struct Active {
  KernelTable table;
  Active() {
    CpuInfo& info = info_mut();
    if (const char* env = std::getenv("TAPEGRAD_ARCH"); env && *env) {
      // An unknown or unsupported request falls back to the best target rather than crashing
      // at import, and says so on stderr (the engine has no Python to warn through; a silent
      // fallback would make an A/B timing compare the same kernels twice).
      // tapegrad.cpu_info() shows what was selected.
      try {
        Arch want = parse_arch(env);
        if (supported(want))
          info.selected = want;
        else
          std::fprintf(stderr,
                       "tapegrad: TAPEGRAD_ARCH=%s is not available on this CPU; using %s\n",
                       env, arch_name(info.selected));
      } catch (const std::invalid_argument&) {
        std::fprintf(stderr,
                     "tapegrad: TAPEGRAD_ARCH=%s is not a target (expected generic, avx2 or "
                     "avx512); using %s\n",
                     env, arch_name(info.selected));
      }
    }
    table = build(info.selected);
  }
};

Active& active() {
  static Active a;
  return a;
}

}  // namespace

const KernelTable& table() { return active().table; }

const CpuInfo& cpu_info() {
  active();
  return info_mut();
}

Arch selected_arch() { return cpu_info().selected; }

void set_arch(Arch arch) {
  if (!supported(arch))
    throw std::invalid_argument(std::string("set_arch: this CPU cannot run target '") +
                                arch_name(arch) + "'");
  active().table = build(arch);
  info_mut().selected = arch;
}

const char* arch_name(Arch arch) {
  switch (arch) {
    case Arch::generic: return "generic";
    case Arch::avx2: return "avx2";
    case Arch::avx512: return "avx512";
  }
  return "?";
}

Arch parse_arch(const std::string& name) {
  if (name == "generic") return Arch::generic;
  if (name == "avx2") return Arch::avx2;
  if (name == "avx512") return Arch::avx512;
  throw std::invalid_argument("unknown target '" + name + "' (expected generic, avx2 or avx512)");
}

}  // namespace tapegrad::kernels
