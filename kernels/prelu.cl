// prelu.cl: PReLU on NC4HW4 activations, one learned slope per channel (MTCNN's nets).
#include "storage.h"

// slope: cb * 4 floats, zero past C (so padding lanes stay zero). Input and output are addressed as channel-block
// slices: image n's block b sits at (n * total + offset + b) * hw. Global size: (H * W, cb, N).
__kernel void prelu(__global const storage_t* in, __global const float* slope, __global storage_t* out, int hw,
                    int in_total, int in_offset, int out_total, int out_offset) {
  const int p = get_global_id(0), b = get_global_id(1), n = get_global_id(2);
  if (p >= hw) return;
  const float4 v = LOADF4((n * in_total + in_offset + b) * hw + p, in);
  STOREF4(select(vload4(b, slope) * v, v, v >= (float4)0), (n * out_total + out_offset + b) * hw + p, out);
}
