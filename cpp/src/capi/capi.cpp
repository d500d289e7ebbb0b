// The C API (cpp/include/facert/facert.h) over engine::Engine: Statuses become codes, the message
// goes to a thread-local string, and no exception crosses the boundary.
#include "facert/facert.h"

#include <exception>
#include <memory>
#include <new>
#include <string>

#include "engine/engine.hpp"

struct facert_engine {
  std::unique_ptr<facert::engine::Engine> impl;
};

namespace {

thread_local std::string g_last_error;

facert_status code_of(facert::ErrorKind k) {
  switch (k) {
    case facert::ErrorKind::Ok: return FACERT_OK;
    case facert::ErrorKind::Io: return FACERT_ERR_IO;
    case facert::ErrorKind::Model: return FACERT_ERR_MODEL;
    case facert::ErrorKind::Input: return FACERT_ERR_INPUT;
    case facert::ErrorKind::Device: return FACERT_ERR_DEVICE;
    case facert::ErrorKind::Argument: return FACERT_ERR_ARGUMENT;
    case facert::ErrorKind::Internal: return FACERT_ERR_INTERNAL;
  }
  return FACERT_ERR_INTERNAL;
}

facert_status report(const facert::Status& st) {
  g_last_error = st.is_ok() ? std::string() : st.message();
  return code_of(st.kind());
}

facert_status fail(facert_status code, const char* message) {
  g_last_error = message;
  return code;
}

template <class F>
facert_status guarded(F&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return fail(FACERT_ERR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return fail(FACERT_ERR_INTERNAL, e.what());
  } catch (...) {
    return fail(FACERT_ERR_INTERNAL, "unknown C++ exception");
  }
}

}  // namespace

extern "C" {

facert_status facert_engine_create(const char* path, int threads, facert_engine** out) {
  return facert_engine_create_isa(path, threads, "auto", out);
}

facert_status facert_engine_create_isa(const char* path, int threads, const char* isa, facert_engine** out) {
  if (out) *out = nullptr;
  if (!path || !isa || !out) return fail(FACERT_ERR_ARGUMENT, "facert_engine_create: path, isa and out must not be NULL");
  return guarded([&] {
    auto e = facert::engine::Engine::create(path, threads, isa);
    if (!e) return report(e.status());
    *out = new facert_engine{std::move(e).value()};
    return report(facert::Status::ok());
  });
}

void facert_engine_destroy(facert_engine* engine) { delete engine; }

int facert_engine_dim(const facert_engine* engine) { return engine ? engine->impl->dim() : -1; }

facert_status facert_engine_input_shape(const facert_engine* engine, int shape[3]) {
  if (!engine || !shape) return fail(FACERT_ERR_ARGUMENT, "facert_engine_input_shape: NULL argument");
  const auto s = engine->impl->input_shape();
  for (int i = 0; i < 3; ++i) shape[i] = s[i];
  return report(facert::Status::ok());
}

facert_status facert_embed_bgr(const facert_engine* engine, const uint8_t* bgr, int height, int width,
                               size_t row_stride_bytes, float* out, size_t out_len) {
  if (!engine || !bgr || !out) return fail(FACERT_ERR_ARGUMENT, "facert_embed_bgr: NULL argument");
  const auto& e = *engine->impl;
  if (out_len < size_t(e.dim()))
    return fail(FACERT_ERR_ARGUMENT, ("facert_embed_bgr: out_len " + std::to_string(out_len) +
                                      " is smaller than the embedding size " + std::to_string(e.dim()))
                                         .c_str());
  return guarded([&] {
    facert::engine::ImageView img;
    img.data = bgr;
    img.height = height;
    img.width = width;
    img.row_stride = int64_t(row_stride_bytes);
    return report(e.embed(img, out));
  });
}

facert_status facert_forward(const facert_engine* engine, const float* x, int n, float* out, size_t out_len) {
  if (!engine || !x || !out) return fail(FACERT_ERR_ARGUMENT, "facert_forward: NULL argument");
  if (n < 1) return fail(FACERT_ERR_ARGUMENT, "facert_forward: n must be >= 1");
  const auto& e = *engine->impl;
  const size_t need = size_t(n) * size_t(e.output_size());  // a detector's map: n * D * h * w
  if (out_len < need)
    return fail(FACERT_ERR_ARGUMENT, ("facert_forward: out_len " + std::to_string(out_len) +
                                      " is smaller than n * output size = " + std::to_string(need))
                                         .c_str());
  return guarded([&] { return report(e.forward(x, n, out)); });
}

const char* facert_last_error(void) { return g_last_error.c_str(); }

const char* facert_version(void) { return FACERT_VERSION; }

}  // extern "C"
