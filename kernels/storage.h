// storage.h: the storage/precision preamble every kernels/*.cl includes with `#include "storage.h"`.
// Inlined by kernels/embed_kernels.cmake (the engine's one program) and by tests/cl_helpers.py (pyopencl), so
// no driver include path is involved; the include guard lets all files share one program.
// Activations are NC4HW4: [N][ceil(C/4)][H][W][4], lanes past C hold zeros.
// Variants by build option: default fp32; -DFACERT_FP16_STORAGE: half in memory, float math
// (vload_half/vstore_half, needs no extension); -DFACERT_FP16_MATH: half math (needs cl_khr_fp16).
#ifndef FACERT_STORAGE_DEFINED
#define FACERT_STORAGE_DEFINED
#if defined(FACERT_FP16_MATH)
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
typedef half storage_t;
typedef half4 real4;
#define LOAD4(off, p) vload4((off), (p))
#define STORE4(v, off, p) vstore4((v), (off), (p))
#define LOADF4(off, p) convert_float4(vload4((off), (p)))
#define LOADF1(off, p) ((float)(p)[off])
#define STOREF4(v, off, p) vstore4(convert_half4(v), (off), (p))
#define REAL4(v) convert_half4(v)
#elif defined(FACERT_FP16_STORAGE)
typedef half storage_t;
typedef float4 real4;
#define LOAD4(off, p) vload_half4((off), (p))
#define STORE4(v, off, p) vstore_half4((v), (off), (p))
#define LOADF4(off, p) vload_half4((off), (p))
#define LOADF1(off, p) vload_half((off), (p))
#define STOREF4(v, off, p) vstore_half4((v), (off), (p))
#define REAL4(v) (v)
#else
typedef float storage_t;
typedef float4 real4;
#define LOAD4(off, p) vload4((off), (p))
#define STORE4(v, off, p) vstore4((v), (off), (p))
#define LOADF4(off, p) vload4((off), (p))
#define LOADF1(off, p) ((p)[off])
#define STOREF4(v, off, p) vstore4((v), (off), (p))
#define REAL4(v) (v)
#endif
// act: 0 none, 1 relu, 2 relu6 (the graph's "activation" attribute).
#define FACERT_ACTIVATE(v, act) \
  ((act) == 1 ? fmax((v), (real4)0) : (act) == 2 ? clamp((v), (real4)0, (real4)6) : (v))
#define FACERT_ACTIVATE_F(v, act) \
  ((act) == 1 ? fmax((v), 0.0f) : (act) == 2 ? clamp((v), 0.0f, 6.0f) : (v))
#endif
