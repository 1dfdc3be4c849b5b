// TLS between nodes (CAF's OpenSSL module) with certificates checked both
// ways, against a throwaway CA made by make-certs.sh: a node with a
// certificate of the right CA is served; one with another CA's certificate,
// and a plain node, are refused, and poold keeps serving the others.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE tls

#include <cstdlib>

#include "caf/test/dsl.hpp"

#include "node_fixture.hpp"

using namespace std::chrono_literals;
using pool_test::call;

namespace {

struct tls_config : node_test::node_config {
  explicit tls_config(const std::string& certs) {
    openssl_certificate = certs + "/node.pem";
    openssl_key = certs + "/node.key";
    openssl_cafile = certs + "/ca.pem";
    pool::node_options opts;
    opts.tls = true;
    pool::configure_node(*this, opts);
  }
};

} // namespace

CAF_TEST(TLS between nodes accepts the right certificate and refuses others) {
  node_test::poold_node node;
  auto certs = node.dir() + "/certs";
  auto cmd = std::string{POOL_NODE_MAKE_CERTS} + " " + certs;
  CAF_REQUIRE_EQUAL(std::system(cmd.c_str()), 0);
  if (auto err = node.start({"--node.tls",
                             "--openssl.certificate=" + certs + "/node.pem",
                             "--openssl.key=" + certs + "/node.key",
                             "--openssl.cafile=" + certs + "/ca.pem"});
      !err.empty())
    CAF_FAIL(err);
  CAF_CHECK(node.log().find("over TLS") != std::string::npos);
  // A node with the right certificate.
  tls_config tcfg{certs};
  caf::actor_system tsys{tcfg};
  caf::scoped_actor self{tsys};
  auto p = pool::connect_pool(tsys, "127.0.0.1", node.port(), "orders");
  if (!p)
    CAF_FAIL("connect over TLS: " << pool::describe(p.error()) << "\n"
                                  << node.log());
  auto r = call<pool::query_result>(self, *p, 10s, pool::query_atom_v,
                                    pool::statement{"SELECT 'tls ok'"});
  CAF_CHECK(r && r->at(0, 0) == "tls ok");
  // A node whose certificate another CA signed: refused, quickly.
  node_test::process rogue;
  auto out = node.dir() + "/rogue.out";
  CAF_REQUIRE_EQUAL(
    rogue.start({node_test::lease_holder_path(), "127.0.0.1",
                 std::to_string(node.port()), "orders", "rogue",
                 certs + "/rogue.pem", certs + "/rogue.key", certs + "/ca.pem"},
                out, node.dir() + "/rogue.err"),
    "");
  CAF_CHECK_EQUAL(rogue.wait(20s), 1);
  auto text = node_test::read_file(out);
  CAF_MESSAGE("rogue certificate: " << text);
  CAF_CHECK(text.find("ERROR pool_down") != std::string::npos);
  CAF_CHECK(text.find("LEASED") == std::string::npos);
  // A plain node (no TLS): refused too.
  node_test::node_config plain_cfg;
  caf::actor_system plain{plain_cfg};
  auto q = pool::connect_pool(plain, "127.0.0.1", node.port(), "orders", 5s);
  CAF_REQUIRE(!q);
  CAF_MESSAGE("plain node: " << pool::describe(q.error()));
  CAF_CHECK(pool::is(q.error(), pool::pool_errc::pool_down));
  // poold is still up and still serves the node already connected: the
  // refused handshakes did not drop its TLS connection
  // (libpool/src/tls_errors.hpp).
  CAF_CHECK_EQUAL(node.proc().wait(0ms), -1);
  auto again = call<pool::query_result>(self, *p, 10s, pool::query_atom_v,
                                        pool::statement{"SELECT 'still tls'"});
  CAF_CHECK(again && again->at(0, 0) == "still tls");
  if (!again)
    CAF_MESSAGE("after the refusals: " << pool::describe(again.error()));
  CAF_CHECK_EQUAL(node.stop(), 0);
}
