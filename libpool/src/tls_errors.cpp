// See tls_errors.hpp: OpenSSL's TLS I/O calls with an empty error queue
// first, for CAF 0.17.6's OpenSSL module (and everything else in the
// program that calls them: libpq clears the queue itself already).

#include "tls_errors.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

// OpenSSL's own definition of `name`: the next one after this program's.
template <class F>
F next_definition(const char* name) {
  auto f = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
  if (f == nullptr) {
    std::fprintf(stderr, "libpool: %s not found in OpenSSL\n", name);
    std::abort();
  }
  return f;
}

} // namespace

#define POOL_TLS_CLEARING_CALL(ret, name, params, args)                        \
  extern "C" __attribute__((visibility("default"))) ret name params {          \
    static const auto real = next_definition<ret(*) params>(#name);            \
    ERR_clear_error();                                                         \
    return real args;                                                          \
  }

POOL_TLS_CLEARING_CALL(int, SSL_read, (SSL * s, void* buf, int n), (s, buf, n))
POOL_TLS_CLEARING_CALL(int, SSL_write, (SSL * s, const void* buf, int n),
                       (s, buf, n))
POOL_TLS_CLEARING_CALL(int, SSL_accept, (SSL * s), (s))
POOL_TLS_CLEARING_CALL(int, SSL_connect, (SSL * s), (s))

namespace pool::detail {

void link_tls_error_queue_fix() {
  // nop: referencing this function links the definitions above
}

} // namespace pool::detail
