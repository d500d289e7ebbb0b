// linear.cl: fully connected layer on flat (N, I) float activations (the head after global_avgpool).
// Math is float in every variant (the head is tiny); only the weight storage follows the variant.
#include "storage.h"

// weight: (O, I) row-major storage_t; bias: (O) float (zeros when the graph has none); in (N, I), out (N, O).
// Global size: (O, N).
__kernel void linear(__global const float* in, __global const storage_t* weight, __global const float* bias,
                     __global float* out, int in_features, int out_features, int act) {
  const int o = get_global_id(0), n = get_global_id(1);
  if (o >= out_features) return;
  __global const float* x = in + n * in_features;
  __global const storage_t* w = weight + o * in_features;
  float4 acc4 = (float4)0;
  const int i4 = in_features / 4;
  for (int i = 0; i < i4; ++i) acc4 = mad(vload4(i, x), LOADF4(i, w), acc4);
  float acc = bias[o] + acc4.x + acc4.y + acc4.z + acc4.w;
  for (int i = i4 * 4; i < in_features; ++i) acc = mad(x[i], LOADF1(i, w), acc);
  out[n * out_features + o] = FACERT_ACTIVATE_F(acc, act);
}
