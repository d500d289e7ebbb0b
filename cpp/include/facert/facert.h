/**
 * @file facert.h
 * @brief Plain C API of facert: load an sq.bin face-embedding model and run it on the CPU.
 *
 * Every function returns a ::facert_status (or a plain value where it cannot fail) and never
 * lets a C++ exception escape. After a failure, facert_last_error() gives a message naming the
 * problem; it is kept per thread. An engine may be used from several threads at once.
 *
 * @code
 *   facert_engine* e = NULL;
 *   if (facert_engine_create("model.sq.bin", 0, &e) != FACERT_OK) puts(facert_last_error());
 *   float emb[512];
 *   facert_embed_bgr(e, pixels, height, width, width * 3, emb, 512);
 *   facert_engine_destroy(e);
 * @endcode
 */
#ifndef FACERT_FACERT_H_
#define FACERT_FACERT_H_

#include <stddef.h>
#include <stdint.h>

#if defined(FACERT_BUILDING_C_API)
#define FACERT_API __attribute__((visibility("default")))
#else
#define FACERT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Result codes. */
typedef enum facert_status {
  FACERT_OK = 0,           /**< success */
  FACERT_ERR_IO = 1,       /**< the model file cannot be opened or read */
  FACERT_ERR_MODEL = 2,    /**< the model file is malformed, corrupt or from a newer format */
  FACERT_ERR_INPUT = 3,    /**< an image or tensor has the wrong size */
  FACERT_ERR_DEVICE = 4,   /**< the requested device or instruction set is not usable */
  FACERT_ERR_ARGUMENT = 5, /**< a NULL pointer, a too-small output buffer or a bad count */
  FACERT_ERR_INTERNAL = 6  /**< an unexpected failure (out of memory, bug) */
} facert_status;

/** @brief An opaque loaded model with its kernels, thread pool and buffers. */
typedef struct facert_engine facert_engine;

/**
 * @brief Load an sq.bin model and prepare it for inference.
 * @param path     the sq.bin file
 * @param threads  worker threads; <= 0 means the number of physical cores
 * @param out      receives the engine (NULL on failure); free it with facert_engine_destroy()
 */
FACERT_API facert_status facert_engine_create(const char* path, int threads, facert_engine** out);

/**
 * @brief facert_engine_create() with an explicit CPU instruction set.
 * @param isa "auto", "ref" (portable reference kernels), "avx2", "avx512" or "neon"; an unknown name is
 *            FACERT_ERR_ARGUMENT, one this CPU or build cannot run is FACERT_ERR_DEVICE.
 */
FACERT_API facert_status facert_engine_create_isa(const char* path, int threads, const char* isa,
                                                  facert_engine** out);

/** @brief Free an engine. NULL is ignored. */
FACERT_API void facert_engine_destroy(facert_engine* engine);

/** @brief Embedding size D of the model, or -1 for a NULL engine. */
FACERT_API int facert_engine_dim(const facert_engine* engine);

/**
 * @brief The network input shape.
 * @param shape receives {C, H, W}
 */
FACERT_API facert_status facert_engine_input_shape(const facert_engine* engine, int shape[3]);

/**
 * @brief Embed one image: resize, normalise, run, L2-normalise (when the model says so).
 * @param bgr               HxWx3 interleaved 8-bit BGR pixels (the OpenCV layout)
 * @param height, width     image size, each >= 1
 * @param row_stride_bytes  bytes from one row start to the next, >= 3 * width
 * @param out               receives D floats
 * @param out_len           capacity of @p out in floats, >= D
 */
FACERT_API facert_status facert_embed_bgr(const facert_engine* engine, const uint8_t* bgr, int height, int width,
                                          size_t row_stride_bytes, float* out, size_t out_len);

/**
 * @brief Run the network on already-normalised input; returns the raw head output.
 * @param x        n x C x H x W floats, contiguous (NCHW)
 * @param n        batch size, >= 1
 * @param out      receives n x D floats (n x D x h x w for a model whose output is a map, e.g. MTCNN's P-Net)
 * @param out_len  capacity of @p out in floats, >= n times that
 */
FACERT_API facert_status facert_forward(const facert_engine* engine, const float* x, int n, float* out,
                                        size_t out_len);

/** @brief Message of this thread's last failure ("" when none). Valid until the next facert call here. */
FACERT_API const char* facert_last_error(void);

/** @brief Library version, "MAJOR.MINOR.PATCH". */
FACERT_API const char* facert_version(void);

#ifdef __cplusplus
}
#endif

#endif /* FACERT_FACERT_H_ */
