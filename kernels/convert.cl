// convert.cl: the network's input and output edges, NCHW float on the host side <-> NC4HW4 storage on the
// device side, used by every transfer between the CPU and the OpenCL device.
#include "storage.h"

// The NC4HW4 side may be a channel slice of a larger tensor (a concat output): image n's blocks are
// [cb_offset, cb_offset + cb) of cb_total, so a transfer between devices writes or reads its half in place.
// in: (N, c, hw) float; out: lanes past c set to 0 (the convs rely on it). Global size: (hw, N * cb).
__kernel void nchw_to_nc4hw4(__global const float* in, __global storage_t* out, int c, int cb, int hw,
                             int cb_total, int cb_offset) {
  const int p = get_global_id(0), nb = get_global_id(1);
  if (p >= hw) return;
  const int n = nb / cb, b = nb - n * cb, c0 = b * 4;
  const int src = (n * c + c0) * hw + p;
  const float4 v = (float4)(in[src],
                            c0 + 1 < c ? in[src + hw] : 0.0f,
                            c0 + 2 < c ? in[src + 2 * hw] : 0.0f,
                            c0 + 3 < c ? in[src + 3 * hw] : 0.0f);
  STOREF4(v, (n * cb_total + cb_offset + b) * hw + p, out);
}

// in: NC4HW4 storage (a slice as above); out: (N, c, hw) float. Global size: (hw, N * cb).
__kernel void nc4hw4_to_nchw(__global const storage_t* in, __global float* out, int c, int cb, int hw,
                             int cb_total, int cb_offset) {
  const int p = get_global_id(0), nb = get_global_id(1);
  if (p >= hw) return;
  const int n = nb / cb, b = nb - n * cb, c0 = b * 4;
  const float4 v = LOADF4((n * cb_total + cb_offset + b) * hw + p, in);
  const int dst = (n * c + c0) * hw + p;
  out[dst] = v.x;
  if (c0 + 1 < c) out[dst + hw] = v.y;
  if (c0 + 2 < c) out[dst + 2 * hw] = v.z;
  if (c0 + 3 < c) out[dst + 3 * hw] = v.w;
}

// A concat input that could not be written in place: cb blocks of (hw, 4) copied into blocks
// [out_offset, out_offset + cb) of an out_total-block tensor. Global size: (hw, N * cb).
__kernel void copy_nc4hw4(__global const storage_t* in, __global storage_t* out, int cb, int hw,
                          int in_total, int in_offset, int out_total, int out_offset) {
  const int p = get_global_id(0), nb = get_global_id(1);
  if (p >= hw) return;
  const int n = nb / cb, b = nb - n * cb;
  STORE4(LOAD4((n * in_total + in_offset + b) * hw + p, in), (n * out_total + out_offset + b) * hw + p, out);
}
