// softmax.cl: softmax over the channels of NC4HW4 activations at every position (MTCNN's face probability).
#include "storage.h"

// exp(x - max) / sum over the C real channels (padding lanes are skipped and written as zero); math in float.
// Slices as in prelu.cl: image n's block b at (n * total + offset + b) * hw. Global size: (H * W, N).
__kernel void softmax(__global const storage_t* in, __global storage_t* out, int hw, int c, int in_total,
                      int in_offset, int out_total, int out_offset) {
  const int p = get_global_id(0), n = get_global_id(1);
  if (p >= hw) return;
  const int cb = (c + 3) / 4;
  float lanes[4];
  float mx = -INFINITY, sum = 0.0f;
  for (int b = 0; b < cb; ++b) {
    vstore4(LOADF4((n * in_total + in_offset + b) * hw + p, in), 0, lanes);
    for (int k = 0; k < 4 && 4 * b + k < c; ++k) mx = fmax(mx, lanes[k]);
  }
  for (int b = 0; b < cb; ++b) {
    vstore4(LOADF4((n * in_total + in_offset + b) * hw + p, in), 0, lanes);
    for (int k = 0; k < 4 && 4 * b + k < c; ++k) sum += exp(lanes[k] - mx);
  }
  const float inv = 1.0f / sum;
  for (int b = 0; b < cb; ++b) {
    const float4 e = exp(LOADF4((n * in_total + in_offset + b) * hw + p, in) - (float4)mx) * inv;
    const int4 channel = (int4)(0, 1, 2, 3) + 4 * b;
    STOREF4(select((float4)0, e, channel < (int4)c), (n * out_total + out_offset + b) * hw + p, out);
  }
}
