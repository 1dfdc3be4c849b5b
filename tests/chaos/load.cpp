#include "load.hpp"

#include <set>
#include <sstream>
#include <thread>

#include "caf/all.hpp"

#include "pool/error.hpp"

namespace chaos {

using namespace std::chrono_literals;

namespace {

/// Client → itself: time for the next request.
using next_atom = caf::atom_constant<caf::atom("next")>;

} // namespace

struct load_state {
  mutable std::mutex mtx;
  load_report rep; // guarded by mtx
  std::atomic<bool> stopping{false};
  std::atomic<size_t> running{0};
  std::atomic<uint64_t> ok{0};

  void record(std::set<int32_t>& outstanding, int32_t value, time_point sent,
              std::string kind, std::string message) {
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{mtx};
    if (outstanding.erase(value) == 0) {
      ++rep.duplicates;
      return;
    }
    ++rep.answered;
    ++rep.by_kind[kind];
    if (kind == ok_kind)
      ++ok;
    else if (rep.example.count(kind) == 0)
      rep.example.emplace(kind, message);
    rep.records.push_back(
      answer_record{sent, now, std::move(kind), std::move(message)});
  }
};

std::string kind_of(const caf::error& err) {
  if (err.category() == pool::pool_error_category::value)
    return pool::to_string(static_cast<pool::pool_errc>(err.code()));
  if (err == caf::sec::request_timeout)
    return no_answer_kind;
  return "caf:" + caf::to_string(err);
}

uint64_t load_report::count(const std::string& kind) const {
  auto i = by_kind.find(kind);
  return i != by_kind.end() ? i->second : 0;
}

std::vector<answer_record> load_report::sent_between(time_point from,
                                                     time_point to) const {
  std::vector<answer_record> result;
  for (auto& r : records)
    if (r.sent >= from && r.sent < to)
      result.push_back(r);
  return result;
}

std::string load_report::summary() const {
  std::ostringstream out;
  out << "sent " << sent << ", answered " << answered << ", duplicates "
      << duplicates << ", wrong values " << wrong_values;
  for (auto& kv : by_kind)
    out << ", " << kv.first << " " << kv.second;
  return out.str();
}

namespace {

caf::behavior client(caf::event_based_actor* self,
                     std::shared_ptr<load_state> st, pool::pool_actor p,
                     load_options opts, int32_t id) {
  self->attach_functor([st] { --st->running; });
  auto seq = std::make_shared<int32_t>(0);
  auto outstanding = std::make_shared<std::set<int32_t>>();
  auto next = [=] {
    if (opts.pause.count() > 0)
      self->delayed_send(self, opts.pause, next_atom::value);
    else
      self->send(self, next_atom::value);
  };
  self->send(self, next_atom::value);
  return {
    [=](next_atom) {
      if (st->stopping) {
        self->quit();
        return;
      }
      int32_t value = id * 1000000 + (++*seq % 1000000);
      outstanding->insert(value);
      {
        std::lock_guard<std::mutex> guard{st->mtx};
        ++st->rep.sent;
      }
      auto sent = clock_type::now();
      self
        ->request(p, opts.request_timeout, pool::query_atom_v,
                  pool::statement{"SELECT $1::int", {value}})
        .then(
          [=](pool::query_result& r) {
            auto good = r.rows() == 1 && r.columns.size() == 1 &&
                        !r.is_null(0, 0) && r.at(0, 0) == std::to_string(value);
            if (!good) {
              {
                std::lock_guard<std::mutex> guard{st->mtx};
                ++st->rep.wrong_values;
              }
              st->record(*outstanding, value, sent, "WRONG_VALUE",
                         "expected " + std::to_string(value));
            } else {
              st->record(*outstanding, value, sent, ok_kind, {});
            }
            next();
          },
          [=](caf::error& err) {
            st->record(*outstanding, value, sent, kind_of(err),
                       pool::describe(err));
            next();
          });
    },
  };
}

} // namespace

load_generator::load_generator(caf::actor_system& sys, pool::pool_actor pool,
                               load_options opts)
  : sys_(sys), pool_(std::move(pool)), opts_(opts),
    state_(std::make_shared<load_state>()) {
  // nop
}

load_generator::~load_generator() {
  if (state_->running == 0)
    return;
  auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(
                 opts_.request_timeout) +
               2000ms;
  if (!stop(limit)) {
    for (auto& c : clients_)
      caf::anon_send_exit(c, caf::exit_reason::kill);
    auto deadline = clock_type::now() + 5s;
    while (state_->running > 0 && clock_type::now() < deadline)
      std::this_thread::sleep_for(10ms);
  }
}

void load_generator::start() {
  {
    std::lock_guard<std::mutex> guard{state_->mtx};
    state_->rep.started = clock_type::now();
  }
  state_->running += opts_.clients;
  for (size_t i = 0; i < opts_.clients; ++i)
    clients_.push_back(
      sys_.spawn(client, state_, pool_, opts_, static_cast<int32_t>(i + 1)));
}

bool load_generator::stop(std::chrono::milliseconds limit) {
  state_->stopping = true;
  auto deadline = clock_type::now() + limit;
  while (state_->running > 0) {
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

uint64_t load_generator::ok_count() const {
  return state_->ok;
}

bool load_generator::wait_for_ok(uint64_t n,
                                 std::chrono::milliseconds limit) const {
  auto target = state_->ok + n;
  auto deadline = clock_type::now() + limit;
  while (state_->ok < target) {
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

load_report load_generator::report() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->rep;
}

} // namespace chaos
