// A client node that puts load on a pool of a poold for the multi-process
// load tests: COUNT queries in priority class CLASS, at most INFLIGHT at a
// time, each inserting (TAG, CLASS, seq) into node_load_log and returning
// seq. Every reply is checked (the seq it returns) and every request is
// counted once when its answer arrives; a request without an answer after
// 60 s counts as `unanswered`. At the end it prints
//
//   RESULT sent=N answered=N ok=K failed=F wrong=W unanswered=U twice=T
//   ERROR <count> <description>      (one line per kind of error)
//
// and exits 0; 1 when it cannot reach the pool.
//
// Usage: load_client HOST PORT POOL CLASS COUNT INFLIGHT TAG

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "caf/all.hpp"
#include "caf/io/all.hpp"

#include "pool/all.hpp"
#include "pool/remote.hpp"

namespace {

struct load_config : caf::actor_system_config {
  load_config() {
    pool::configure_node(*this);
    set("scheduler.max-threads", 2);
  }
};

struct load_plan {
  pool::priority prio = pool::priority::normal;
  int count = 0;
  int inflight = 1;
  std::string tag;
};

struct load_counts {
  int next = 0;
  int running = 0;
  int ok = 0;
  int failed = 0;
  int wrong = 0;
  int unanswered = 0;
  int twice = 0;
  std::vector<int> answers;
  std::map<std::string, int> errors;
};

// Sends the next requests of `plan` until INFLIGHT run; when every request
// has its answer, sends the report to `out` and quits.
void top_up(caf::event_based_actor* self, const pool::pool_actor& p,
            const load_plan& plan, std::shared_ptr<load_counts> st,
            const caf::actor& out) {
  while (st->running < plan.inflight && st->next < plan.count) {
    auto i = st->next++;
    ++st->running;
    pool::statement stmt{
      "INSERT INTO node_load_log(tag, class, seq) "
      "VALUES ($1, $2, $3::int) RETURNING seq",
      {plan.tag, pool::to_string(plan.prio), std::to_string(i)}};
    auto done = [=](bool answered) {
      --st->running;
      if (answered && ++st->answers[i] > 1)
        ++st->twice;
      top_up(self, p, plan, st, out);
    };
    self
      ->request(p, std::chrono::seconds(60), pool::query_atom_v, plan.prio,
                std::move(stmt))
      .then(
        [=](const pool::query_result& r) {
          if (r.rows() == 1 && r.at(0, 0) == std::to_string(i))
            ++st->ok;
          else
            ++st->wrong;
          done(true);
        },
        [=](const caf::error& err) {
          if (err == caf::sec::request_timeout) {
            ++st->unanswered;
            done(false);
            return;
          }
          ++st->failed;
          ++st->errors[pool::describe(err)];
          done(true);
        });
  }
  if (st->running == 0 && st->next == plan.count) {
    int answered = 0;
    for (auto n : st->answers)
      answered += n > 0 ? 1 : 0;
    auto report = "RESULT sent=" + std::to_string(plan.count) +
                  " answered=" + std::to_string(answered) +
                  " ok=" + std::to_string(st->ok) +
                  " failed=" + std::to_string(st->failed) +
                  " wrong=" + std::to_string(st->wrong) +
                  " unanswered=" + std::to_string(st->unanswered) +
                  " twice=" + std::to_string(st->twice) + "\n";
    for (auto& kvp : st->errors)
      report += "ERROR " + std::to_string(kvp.second) + " " + kvp.first + "\n";
    self->send(out, report);
    self->quit();
  }
}

bool parse_class(const std::string& s, pool::priority& x) {
  for (auto p : {pool::priority::interactive, pool::priority::normal,
                 pool::priority::batch})
    if (s == pool::to_string(p)) {
      x = p;
      return true;
    }
  return false;
}

} // namespace

int main(int argc, char** argv) {
  load_plan plan;
  if (argc != 8 || !parse_class(argv[4], plan.prio)) {
    std::fprintf(stderr, "usage: load_client HOST PORT POOL "
                         "interactive|normal|batch COUNT INFLIGHT TAG\n");
    return 2;
  }
  plan.count = std::stoi(argv[5]);
  plan.inflight = std::max(1, std::stoi(argv[6]));
  plan.tag = argv[7];
  load_config cfg;
  caf::actor_system sys{cfg};
  auto p = pool::connect_pool(
    sys, argv[1], static_cast<uint16_t>(std::stoi(argv[2])), argv[3]);
  if (!p) {
    std::printf("UNREACHABLE %s\n", pool::describe(p.error()).c_str());
    return 1;
  }
  caf::scoped_actor self{sys};
  auto st = std::make_shared<load_counts>();
  st->answers.resize(static_cast<size_t>(plan.count));
  auto out = caf::actor{self};
  sys.spawn([=](caf::event_based_actor* driver) -> caf::behavior {
    top_up(driver, *p, plan, st, out);
    // Lives on its requests' replies; quits in top_up after the last one.
    return {[](caf::ok_atom) {}};
  });
  self->receive([](const std::string& report) {
    std::printf("%s", report.c_str());
    std::fflush(stdout);
  });
  return 0;
}
