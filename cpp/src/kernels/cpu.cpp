// CPU detection (once), the choice of target (TAPEGRAD_ARCH, set_arch) and the active kernel
// table. The public entry points that go through it are in dispatch.cpp.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>

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

// ---------------------------------------------------------------------------------------------
// Caches. cpuid describes each cache level in one sub-leaf of leaf 4 (Intel) or 0x8000001D (AMD,
// with the topology extensions), in the same layout:
//   EAX[4:0] type (0 none, 1 data, 2 instruction, 3 unified), EAX[7:5] level,
//   EAX[25:14] logical CPUs sharing it − 1; EBX[11:0] line − 1, EBX[21:12] partitions − 1,
//   EBX[31:22] ways − 1; ECX sets − 1.  size = ways · partitions · line · sets.
// Linux's sysfs (/sys/devices/system/cpu/cpu0/cache/index*) says the same from the kernel's
// side; it is the fallback where cpuid lacks the leaf (old CPUs, some hypervisors) and the
// cross-check where both answer.

int count_cpu_list(const std::string& list) {  // "0-3,8" -> 5
  int n = 0;
  std::stringstream ss(list);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    const auto dash = part.find('-');
    try {
      if (dash == std::string::npos)
        n += 1;
      else
        n += std::stoi(part.substr(dash + 1)) - std::stoi(part.substr(0, dash)) + 1;
    } catch (const std::exception&) {
      return 1;
    }
  }
  return std::max(n, 1);
}

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (f) std::getline(f, line);
  return line;
}

// Caches from sysfs; returns false when the directory is missing (not Linux, or a sandbox).
bool sysfs_caches(CacheLevel& l1d, CacheLevel& l2, CacheLevel& l3) {
  bool any = false;
  for (int i = 0; i < 16; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::string type = read_line(dir + "type");
    if (type.empty()) break;
    if (type != "Data" && type != "Unified") continue;
    CacheLevel c;
    try {
      const std::string size = read_line(dir + "size");  // "48K", "2048K", "32M"
      int64_t v = std::stoll(size);
      const char unit = size.empty() ? 0 : size.back();
      if (unit == 'K') v <<= 10;
      if (unit == 'M') v <<= 20;
      c.size = v;
      const std::string ways = read_line(dir + "ways_of_associativity");
      const std::string line = read_line(dir + "coherency_line_size");
      const std::string sets = read_line(dir + "number_of_sets");
      c.ways = ways.empty() ? 0 : std::stoi(ways);
      c.line = line.empty() ? 0 : std::stoi(line);
      c.sets = sets.empty() ? 0 : std::stoi(sets);
      c.shared_by = count_cpu_list(read_line(dir + "shared_cpu_list"));
      const int level = std::stoi(read_line(dir + "level"));
      if (level == 1 && type == "Data") l1d = c;
      if (level == 2) l2 = c;
      if (level == 3) l3 = c;
      any = true;
    } catch (const std::exception&) {
      continue;  // an unreadable entry: leave that level to cpuid or the defaults
    }
  }
  return any;
}

#if TAPEGRAD_HAVE_X86_SIMD
bool cpuid_caches(unsigned leaf, CacheLevel& l1d, CacheLevel& l2, CacheLevel& l3) {
  bool any = false;
  for (unsigned sub = 0; sub < 16; ++sub) {
    unsigned a, b, c, d;
    __cpuid_count(leaf, sub, a, b, c, d);
    const unsigned type = a & 0x1f;
    if (type == 0) break;
    if (type == 2) continue;  // instruction cache
    const unsigned level = (a >> 5) & 7;
    CacheLevel cl;
    cl.line = int((b & 0xfff) + 1);
    cl.ways = int(((b >> 22) & 0x3ff) + 1);
    cl.sets = int(c + 1);
    cl.size = int64_t(cl.ways) * int64_t(((b >> 12) & 0x3ff) + 1) * cl.line * cl.sets;
    cl.shared_by = int(((a >> 14) & 0xfff) + 1);
    if (level == 1 && type == 1) l1d = cl;
    if (level == 2) l2 = cl;
    if (level == 3) l3 = cl;
    any = true;
  }
  return any;
}
#endif

void detect_caches(CpuInfo& info, bool cpuid_ok, const CacheLevel& c1, const CacheLevel& c2,
                   const CacheLevel& c3) {
  CacheLevel s1, s2, s3;
  const bool sysfs_ok = sysfs_caches(s1, s2, s3);
  info.l1d = c1;
  info.l2 = c2;
  info.l3 = c3;
  info.cache_source = cpuid_ok ? "cpuid" : (sysfs_ok ? "sysfs" : "default");
  // Per level: cpuid first, sysfs where cpuid said nothing; note disagreements in size.
  const CacheLevel* sys[3] = {&s1, &s2, &s3};
  CacheLevel* mine[3] = {&info.l1d, &info.l2, &info.l3};
  const char* names[3] = {"L1d", "L2", "L3"};
  for (int i = 0; i < 3; ++i) {
    if (mine[i]->size == 0 && sys[i]->size > 0) {
      *mine[i] = *sys[i];
      if (cpuid_ok) info.cache_source = "cpuid+sysfs";
    } else if (mine[i]->size > 0 && sys[i]->size > 0 && mine[i]->size != sys[i]->size) {
      if (!info.cache_mismatch.empty()) info.cache_mismatch += "; ";
      info.cache_mismatch += std::string(names[i]) + ": cpuid " + std::to_string(mine[i]->size) +
                             " B, sysfs " + std::to_string(sys[i]->size) + " B";
    }
  }
}

CpuInfo detect() {
  CpuInfo info;
  CacheLevel c1, c2, c3;
  bool cpuid_caches_ok = false;
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
    // Display family and model: the extended fields count only when the base family is 0xf
    // (and, for the model, also when it is 6 — Intel's convention).
    const int base_family = int((a >> 8) & 0xf), base_model = int((a >> 4) & 0xf);
    info.family = base_family == 0xf ? base_family + int((a >> 20) & 0xff) : base_family;
    info.model = (base_family == 0xf || base_family == 6) ? base_model | int(((a >> 16) & 0xf) << 4)
                                                           : base_model;
    info.stepping = int(a & 0xf);
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
  const unsigned max_ext = __get_cpuid_max(0x80000000u, nullptr);
  if (max_ext >= 0x80000004u) {
    char brand[49] = {0};
    for (unsigned i = 0; i < 3; ++i) {
      __cpuid(0x80000002u + i, a, b, c, d);
      std::memcpy(brand + 16 * i, &a, 4);
      std::memcpy(brand + 16 * i + 4, &b, 4);
      std::memcpy(brand + 16 * i + 8, &c, 4);
      std::memcpy(brand + 16 * i + 12, &d, 4);
    }
    std::string name = brand;
    const auto first = name.find_first_not_of(' ');
    const auto last = name.find_last_not_of(' ');
    info.model_name = first == std::string::npos ? "" : name.substr(first, last - first + 1);
  }
  bool topoext = false;
  if (max_ext >= 0x80000001u) {
    __cpuid(0x80000001u, a, b, c, d);
    topoext = c & (1u << 22);
  }
  if (info.vendor == "GenuineIntel" && max_leaf >= 4)
    cpuid_caches_ok = cpuid_caches(4, c1, c2, c3);
  else if (topoext && max_ext >= 0x8000001Du)  // AMD and Hygon
    cpuid_caches_ok = cpuid_caches(0x8000001Du, c1, c2, c3);
  else if (max_leaf >= 4)  // other vendors that follow Intel's leaf
    cpuid_caches_ok = cpuid_caches(4, c1, c2, c3);
  if (info.avx && info.avx2 && info.fma && info.os_avx) info.available.push_back(Arch::avx2);
  if (info.avx512f && info.avx512bw && info.avx512dq && info.avx512vl && info.os_avx512 &&
      info.fma)
    info.available.push_back(Arch::avx512);
#endif
  detect_caches(info, cpuid_caches_ok, c1, c2, c3);
  if (info.model_name.empty()) {  // e.g. not x86: what the kernel calls it, if anything
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
        info.model_name = line.substr(line.find(':') + 2);
        break;
      }
  }
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

// Note [GEMM blocking]
// The packed GEMM (simd/gemm-inl.h) runs jc (nc columns) → pc (kc of k, pack B̃ kc × nc) →
// ic (mc rows, pack Ã mc × kc) → jr (nr) → ir (mr) → micro-kernel. Each block is sized so
// that what a loop reuses stays in the cache level below it (the analytical model of Low et
// al., "Analytical modeling is enough for high-performance BLIS", 2016), from the caches the
// CPU reports at start-up rather than from constants tuned on one machine:
//  - kc (L1). A B̃ micro-panel kc × nr is reused by every Ã micro-panel kc × mr of the ir loop;
//    it must survive in L1 while those stream through. Of the L1's W ways (each sets · line
//    bytes), one is left for the C tile, and the rest split in the ratio mr : nr between the
//    A and B micro-panels:  ways_A = ⌊(W − 1) · mr / (mr + nr)⌋,  kc = ways_A · way / (mr · S).
//    (48 KiB 12-way L1 of Zen 4/5 and Sapphire Rapids, 14 × 32 float tile: kc = 219 → 216.)
//  - mc (L2). Ã (mc × kc) is reused by every jr step; it takes about half of L2, leaving the
//    rest to the B̃ micro-panels coming from L3, the C tiles and the other hyperthread.
//  - nc (L3). B̃ (kc × nc) is reused by every ic step; it takes half of this core's share of L3
//    (size / CPUs sharing it), at most 16384 columns.
// kc is a multiple of 8 (whole cache lines of the packed panels), mc of mr and nc of nr.
// Without cache information the defaults are a 32 KiB 8-way L1, 1 MiB L2 and 2 MiB L3 share.
GemmBlocks derive_gemm_blocks(int mr, int nr, int esize) {
  const CpuInfo& info = info_mut();
  GemmBlocks g;
  g.mr = mr;
  g.nr = nr;
  const int64_t S = esize;
  const int64_t l1 = info.l1d.size > 0 ? info.l1d.size : 32 << 10;
  const int64_t w1 = info.l1d.size > 0 && info.l1d.ways > 1 ? info.l1d.ways : 8;
  const int64_t way = l1 / w1;
  const int64_t ways_a = std::max<int64_t>(1, (w1 - 1) * mr / (mr + nr));
  g.kc = std::clamp<int64_t>(ways_a * way / (mr * S) / 8 * 8, 64, 1024);
  const int64_t l2 = info.l2.size > 0 ? info.l2.size : int64_t(1) << 20;
  g.mc = std::max<int64_t>(mr, l2 / 2 / (g.kc * S) / mr * mr);
  const int64_t l3 = info.l3.size > 0 ? info.l3.size / std::max(1, info.l3.shared_by)
                                      : int64_t(2) << 20;
  g.nc = std::clamp<int64_t>(l3 / 2 / (g.kc * S) / nr * nr, 4 * nr, 16384 / nr * nr);
  if (const char* env = std::getenv("TAPEGRAD_GEMM_BLOCKS"); env && *env) {
    long kc = 0, mc = 0, nc = 0;
    if (std::sscanf(env, "%ld,%ld,%ld", &kc, &mc, &nc) == 3 && kc > 0 && mc > 0 && nc > 0) {
      g.kc = kc;
      g.mc = std::max<int64_t>(mr, mc / mr * mr);
      g.nc = std::max<int64_t>(nr, nc / nr * nr);
    } else {
      std::fprintf(stderr, "tapegrad: TAPEGRAD_GEMM_BLOCKS=%s is not kc,mc,nc; ignored\n", env);
    }
  }
  return g;
}

GemmBlocks gemm_blocks_f32() { return table().gemm_blocks_f32(); }
GemmBlocks gemm_blocks_f64() { return table().gemm_blocks_f64(); }

namespace ref {
// Baseline x86-64 (SSE2): no FMA instruction, so a multiply and an add per lane (the same
// 2 flops); 16 independent 4-lane chains, which GCC keeps in the 16 xmm registers.
double fma_peak(double seconds) {
  constexpr int CH = 16, L = 4;
  float acc[CH][L];
  for (int i = 0; i < CH; ++i)
    for (int l = 0; l < L; ++l) acc[i][l] = 1.0f + 1e-3f * float(i * L + l);
  const float m = 0.999999f, a = 1e-6f;
  constexpr int64_t kIters = 1 << 15;
  using clock = std::chrono::steady_clock;
  double best = 0;
  const auto start = clock::now();
  do {
    const auto t0 = clock::now();
    for (int64_t it = 0; it < kIters; ++it)
      for (int i = 0; i < CH; ++i)
        for (int l = 0; l < L; ++l) acc[i][l] = acc[i][l] * m + a;
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    if (dt > 0) best = std::max(best, double(kIters) * CH * L * 2 / dt * 1e-9);
  } while (std::chrono::duration<double>(clock::now() - start).count() < seconds);
  float s = 0;
  for (int i = 0; i < CH; ++i)
    for (int l = 0; l < L; ++l) s += acc[i][l];
  volatile float sink = s;
  (void)sink;
  return best;
}
}  // namespace ref

double measure_fma_peak(Arch arch, double seconds) {
  if (!supported(arch)) return 0.0;
  seconds = std::clamp(seconds, 0.001, 10.0);
  switch (arch) {
    case Arch::generic: return ref::fma_peak(seconds);
#if TAPEGRAD_HAVE_X86_SIMD
    case Arch::avx2: return avx2::fma_peak(seconds);
    case Arch::avx512: return avx512::fma_peak(seconds);
#else
    default: return 0.0;
#endif
  }
  return 0.0;
}

namespace detail {
std::atomic<const KernelTable*> g_table{nullptr};
const KernelTable& first_table() {
  const KernelTable& t = active().table;  // (a function-local static: built once)
  g_table.store(&t, std::memory_order_release);
  return t;
}
}  // namespace detail

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
