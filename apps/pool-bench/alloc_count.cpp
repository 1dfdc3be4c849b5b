// The allocation-counting hooks: global operator new/delete (all variants)
// and, without sanitizers, malloc/calloc/realloc/free forwarding to glibc's
// __libc_* functions. All counters are relaxed atomics.

#include "alloc_count.hpp"

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BENCH_NO_MALLOC_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||     \
  __has_feature(memory_sanitizer)
#define BENCH_NO_MALLOC_HOOK 1
#endif
#endif

namespace {

std::atomic<uint64_t> news{0};
std::atomic<uint64_t> mallocs{0};

void* allocate(std::size_t n) {
  news.fetch_add(1, std::memory_order_relaxed);
  if (n == 0)
    n = 1;
  for (;;) {
    if (auto* p = std::malloc(n))
      return p;
    auto handler = std::get_new_handler();
    if (handler == nullptr)
      throw std::bad_alloc{};
    handler();
  }
}

void* allocate(std::size_t n, std::align_val_t al) {
  news.fetch_add(1, std::memory_order_relaxed);
#ifndef BENCH_NO_MALLOC_HOOK
  mallocs.fetch_add(1, std::memory_order_relaxed); // posix_memalign
#endif
  auto align = static_cast<std::size_t>(al);
  if (align < sizeof(void*))
    align = sizeof(void*);
  if (n == 0)
    n = 1;
  for (;;) {
    void* p = nullptr;
    if (posix_memalign(&p, align, n) == 0)
      return p;
    auto handler = std::get_new_handler();
    if (handler == nullptr)
      throw std::bad_alloc{};
    handler();
  }
}

template <class... Ts>
void* allocate_nothrow(Ts... xs) noexcept {
  try {
    return allocate(xs...);
  } catch (...) {
    return nullptr;
  }
}

} // namespace

namespace bench {

alloc_counts current_alloc_counts() {
  return {news.load(std::memory_order_relaxed),
          mallocs.load(std::memory_order_relaxed)};
}

bool mallocs_counted() {
#ifdef BENCH_NO_MALLOC_HOOK
  return false;
#else
  return true;
#endif
}

} // namespace bench

// -- operator new / delete ----------------------------------------------

void* operator new(std::size_t n) {
  return allocate(n);
}
void* operator new[](std::size_t n) {
  return allocate(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n);
}
void* operator new(std::size_t n, std::align_val_t al) {
  return allocate(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al) {
  return allocate(n, al);
}
void* operator new(std::size_t n, std::align_val_t al,
                   const std::nothrow_t&) noexcept {
  return allocate_nothrow(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al,
                     const std::nothrow_t&) noexcept {
  return allocate_nothrow(n, al);
}

void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t,
                     const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t,
                       const std::nothrow_t&) noexcept {
  std::free(p);
}

// -- malloc ---------------------------------------------------------------

#ifndef BENCH_NO_MALLOC_HOOK

extern "C" {

void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) noexcept {
  mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}

void* calloc(std::size_t k, std::size_t n) noexcept {
  mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(k, n);
}

void* realloc(void* p, std::size_t n) noexcept {
  mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}

void free(void* p) noexcept {
  __libc_free(p);
}

} // extern "C"

#endif
