// global_avgpool: (c, hw) -> (c), the mean of each plane. Parallel over channels.
#include "cpu/kernel_table.hpp"
#include "cpu/kernels.hpp"

namespace facert::cpu {

void global_avgpool(const float* in, int c, int hw, float* out, Isa isa, ThreadPool& pool) {
  const KernelTable& t = kernel_table(isa);
  const float inv = 1.f / static_cast<float>(hw);
  parallel_for_work(pool, c, int64_t(c) * hw, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch) out[ch] = t.sum(in + ch * hw, hw) * inv;
  });
}

}  // namespace facert::cpu
