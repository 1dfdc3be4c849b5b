// A client node for the multi-process tests: connects to a poold, takes a
// lease on a pool, opens a transaction on it that inserts a row, prints
// "LEASED <id>" and then waits; when the pool's node is lost it prints
// "DOWN <realtime ms> <reason>" and exits. The tests kill it with -9 (its
// lease must come back) or cut its network (both sides must notice).
//
// With a TAG "listen:CHANNEL" it listens to CHANNEL on the pool instead,
// prints "LISTENING", then "NOTE <payload>" for each notification and
// "MISSED <reason>" for each notifications_missed, until killed or the
// pool's node is lost.
//
// Usage: lease_holder HOST PORT POOL TAG [CERT KEY CAFILE]
// (with the last three: TLS between the nodes, this certificate presented)

#include <cstdio>
#include <string>

#include "caf/all.hpp"
#include "caf/io/all.hpp"

#include "pool/all.hpp"
#include "pool/remote.hpp"
#include "process.hpp"

namespace {

struct holder_config : caf::actor_system_config {
  holder_config(int argc, char** argv) {
    pool::node_options opts;
    if (argc == 8) {
      openssl_certificate = argv[5];
      openssl_key = argv[6];
      openssl_cafile = argv[7];
      opts.tls = true;
    }
    pool::configure_node(*this, opts);
    set("scheduler.max-threads", 2);
  }
};

} // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 8) {
    std::fprintf(stderr,
                 "usage: lease_holder HOST PORT POOL TAG [CERT KEY CAFILE]\n");
    return 2;
  }
  holder_config cfg{argc, argv};
  caf::actor_system sys{cfg};
  auto p = pool::connect_pool(
    sys, argv[1], static_cast<uint16_t>(std::stoi(argv[2])), argv[3]);
  if (!p) {
    std::printf("ERROR %s\n", pool::describe(p.error()).c_str());
    std::fflush(stdout);
    std::_Exit(1);
  }
  caf::scoped_actor self{sys};
  self->monitor(*p);
  auto fail = [&](const char* what, const caf::error& err) {
    std::printf("ERROR %s: %s\n", what, pool::describe(err).c_str());
    std::fflush(stdout);
    std::_Exit(1);
  };
  auto down = [&](caf::down_msg& dm) {
    std::printf("DOWN %lld %s\n", node_test::wall_ms(),
                caf::to_string(dm.reason).c_str());
    std::fflush(stdout);
    std::_Exit(0); // the node is gone: nothing to release
  };
  std::string tag = argv[4];
  if (tag.rfind("listen:", 0) == 0) {
    self
      ->request(*p, std::chrono::seconds(10), pool::listen_atom_v,
                tag.substr(7))
      .receive([](caf::ok_atom) {},
               [&](caf::error& err) { fail("listen", err); });
    std::printf("LISTENING\n");
    std::fflush(stdout);
    for (;;)
      self->receive(
        [](const pool::notification& x) {
          std::printf("NOTE %s\n", x.payload.c_str());
          std::fflush(stdout);
        },
        [](const pool::notifications_missed& x) {
          std::printf("MISSED %s\n", x.reason.c_str());
          std::fflush(stdout);
        },
        down);
  }
  pool::lease l;
  self
    ->request(*p, std::chrono::seconds(10), pool::acquire_atom_v,
              caf::timespan{std::chrono::seconds(5)})
    .receive([&](pool::lease& x) { l = x; },
             [&](caf::error& err) { fail("acquire", err); });
  for (auto sql : {"BEGIN", "INSERT INTO node_test_rows(tag) VALUES ($1)"}) {
    pool::statement st{sql};
    if (std::string{sql}.find("$1") != std::string::npos)
      st.params.emplace_back(std::string{argv[4]});
    self
      ->request(l.worker, std::chrono::seconds(10), pool::query_atom_v, l.id,
                st)
      .receive([](const pool::query_result&) {},
               [&](caf::error& err) { fail(sql, err); });
  }
  std::printf("LEASED %llu\n", static_cast<unsigned long long>(l.id));
  std::fflush(stdout);
  self->receive(down);
  std::_Exit(0);
}
