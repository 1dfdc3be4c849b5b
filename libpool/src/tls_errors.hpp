#pragma once

// CAF 0.17.6's OpenSSL module reads a failed TLS call's error only through
// SSL_get_error() and drains OpenSSL's per-thread error queue only in a log
// statement that Debian's build compiles out. The error of one refused
// handshake therefore stays in the middleman thread's queue, and the next
// SSL_read or SSL_write of *any* other connection on that thread that would
// block is misread as a fatal error: one refused client dropped every TLS
// connection of the node. OpenSSL's contract (SSL_get_error(3)): the queue
// must be empty before each TLS I/O call. tls_errors.cpp keeps that
// contract for CAF: it defines SSL_read, SSL_write, SSL_accept and
// SSL_connect in the program (exported with --export-dynamic-symbol, so
// that libcaf_openssl binds to them), and each clears the queue, then calls
// OpenSSL's own function.

namespace pool::detail {

/// Makes the linker include tls_errors.cpp from the static library (called
/// by `configure_node`); does nothing.
void link_tls_error_queue_fix();

} // namespace pool::detail
