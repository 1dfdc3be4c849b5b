#include "connection_table.hpp"

#include <algorithm>

namespace pool {

std::string to_string(conn_state x) {
  switch (x) {
  case conn_state::idle:
    return "idle";
  case conn_state::busy:
    return "busy";
  case conn_state::piping:
    return "piping";
  case conn_state::leased:
    return "leased";
  case conn_state::cleaning:
    return "cleaning";
  case conn_state::validating:
    return "validating";
  case conn_state::closing:
    return "closing";
  }
  return "?";
}

connection_table::entry* connection_table::get(uint32_t id) {
  auto i = entries_.find(id);
  return i == entries_.end() ? nullptr : &i->second;
}

const connection_table::entry* connection_table::find(uint32_t id) const {
  auto i = entries_.find(id);
  return i == entries_.end() ? nullptr : &i->second;
}

bool connection_table::is_free(const entry& e) {
  return e.state != conn_state::idle && e.state != conn_state::closing &&
         e.credit == e.capacity;
}

void connection_table::leave_idle(uint32_t id) {
  auto i = std::find(idle_.rbegin(), idle_.rend(), id);
  if (i != idle_.rend())
    idle_.erase(std::next(i).base());
}

void connection_table::update_credit(uint32_t id, entry& e) {
  bool listed = std::find(with_credit_.begin(), with_credit_.end(), id) !=
                with_credit_.end();
  bool room = e.state == conn_state::piping && e.credit > 0 && !e.retiring;
  if (room && !listed)
    with_credit_.push_back(id);
  else if (!room && listed)
    with_credit_.erase(std::find(with_credit_.begin(), with_credit_.end(), id));
}

bool connection_table::add(uint32_t id, worker_actor worker, uint32_t capacity,
                           caf::timespan now, std::string endpoint) {
  if (capacity == 0 || entries_.count(id) > 0)
    return false;
  auto& e = entries_[id];
  e.worker = std::move(worker);
  e.state = conn_state::busy;
  e.capacity = capacity;
  e.credit = capacity;
  e.idle_since = now;
  e.last_checked = now;
  e.opened_at = now;
  e.endpoint = std::move(endpoint);
  demand_ += weight(e);
  return true;
}

bool connection_table::remove(uint32_t id) {
  auto i = entries_.find(id);
  if (i == entries_.end())
    return false;
  if (i->second.state == conn_state::idle)
    leave_idle(id);
  if (i->second.state == conn_state::closing)
    --closing_;
  with_credit_.erase(std::remove(with_credit_.begin(), with_credit_.end(), id),
                     with_credit_.end());
  demand_ -= weight(i->second);
  entries_.erase(i);
  return true;
}

uint32_t connection_table::pick_with_credit() const {
  auto best = none;
  uint32_t most = 0;
  for (auto id : with_credit_) {
    auto& e = entries_.at(id);
    if (e.credit > most) {
      best = id;
      most = e.credit;
      if (most + 1 >= e.capacity)
        break; // one query in flight: none has fewer
    }
  }
  return best;
}

size_t connection_table::weight(const entry& e) {
  switch (e.state) {
  case conn_state::idle:
  case conn_state::closing:
    return 0;
  case conn_state::piping:
    return e.capacity - e.credit;
  default:
    return 1;
  }
}

// Keeps `demand_` right across one transition of `e`: its weight leaves the
// sum now and comes back, as it is then, when the guard ends (a refused
// transition changes nothing, so the two cancel).
class connection_table::reweigh {
 public:
  reweigh(connection_table& t, const entry& e) : t_(t), e_(e) {
    t_.demand_ -= weight(e_);
  }
  ~reweigh() { t_.demand_ += weight(e_); }
  reweigh(const reweigh&) = delete;
  reweigh& operator=(const reweigh&) = delete;

 private:
  connection_table& t_;
  const entry& e_;
};

std::vector<uint32_t> connection_table::ids() const {
  std::vector<uint32_t> result;
  result.reserve(entries_.size());
  for (auto& kvp : entries_)
    result.push_back(kvp.first);
  return result;
}

bool connection_table::run(uint32_t id, bool piped) {
  auto e = get(id);
  if (!e)
    return false;
  reweigh guard{*this, *e};
  if (piped) {
    if (e->capacity < 2)
      return false;
    if (e->state == conn_state::piping) {
      if (e->credit == 0 || e->retiring)
        return false;
      --e->credit;
      update_credit(id, *e);
      return true;
    }
  }
  if (e->state == conn_state::idle)
    leave_idle(id);
  else if (!is_free(*e))
    return false;
  e->state = piped ? conn_state::piping : conn_state::busy;
  e->credit = piped ? e->capacity - 1 : 0;
  ++e->uses;
  update_credit(id, *e);
  return true;
}

connection_table::entry* connection_table::take_whole(uint32_t id,
                                                      conn_state to) {
  auto e = get(id);
  if (!e)
    return nullptr;
  reweigh guard{*this, *e};
  if (e->state == conn_state::idle)
    leave_idle(id);
  else if (!is_free(*e))
    return nullptr;
  e->state = to;
  e->credit = 0;
  return e;
}

bool connection_table::lease(uint32_t id) {
  auto e = take_whole(id, conn_state::leased);
  if (!e)
    return false;
  ++e->uses;
  return true;
}

bool connection_table::clean(uint32_t id) {
  auto e = get(id);
  if (!e || e->state != conn_state::leased)
    return false;
  reweigh guard{*this, *e};
  e->state = conn_state::cleaning;
  return true;
}

bool connection_table::validate(uint32_t id) {
  return take_whole(id, conn_state::validating) != nullptr;
}

bool connection_table::give_back(uint32_t id, uint32_t n, bool& freed) {
  freed = false;
  auto e = get(id);
  if (!e || n == 0)
    return false;
  reweigh guard{*this, *e};
  switch (e->state) {
  case conn_state::busy:
  case conn_state::piping:
  case conn_state::cleaning:
    break;
  default:
    return false;
  }
  if (n > e->capacity - e->credit)
    return false;
  e->credit += n;
  freed = e->credit == e->capacity;
  if (freed && e->state == conn_state::piping)
    e->state = conn_state::busy; // nothing runs: placed by the manager next
  update_credit(id, *e);
  return true;
}

bool connection_table::validated(uint32_t id, caf::timespan now) {
  auto e = get(id);
  if (!e || e->state != conn_state::validating)
    return false;
  reweigh guard{*this, *e};
  e->state = conn_state::busy;
  e->credit = e->capacity;
  e->last_checked = now;
  return true;
}

bool connection_table::park(uint32_t id, caf::timespan now,
                            bool keep_idle_since) {
  auto e = get(id);
  if (!e || !is_free(*e))
    return false;
  reweigh guard{*this, *e};
  e->state = conn_state::idle;
  if (!keep_idle_since)
    e->idle_since = now;
  idle_.push_back(id);
  return true;
}

bool connection_table::retire(uint32_t id) {
  auto e = get(id);
  if (!e)
    return false;
  e->retiring = true;
  update_credit(id, *e);
  return true;
}

bool connection_table::close(uint32_t id, close_reason why) {
  auto e = get(id);
  if (!e || e->state == conn_state::closing)
    return false;
  reweigh guard{*this, *e};
  if (e->state == conn_state::idle)
    leave_idle(id);
  e->state = conn_state::closing;
  e->close_why = why;
  e->credit = 0;
  ++closing_;
  update_credit(id, *e);
  return true;
}

bool connection_table::check(std::string& why) const {
  auto fail = [&](uint32_t id, const char* what) {
    why = "connection " + std::to_string(id) + ": " + what;
    return false;
  };
  size_t closing = 0;
  size_t demand = 0;
  for (auto& kvp : entries_) {
    auto id = kvp.first;
    auto& e = kvp.second;
    auto in_idle = std::count(idle_.begin(), idle_.end(), id);
    auto in_credit = std::count(with_credit_.begin(), with_credit_.end(), id);
    if (e.capacity == 0)
      return fail(id, "capacity 0");
    if (e.credit > e.capacity)
      return fail(id, "credit above capacity");
    if ((e.state == conn_state::idle) != (in_idle == 1) || in_idle > 1)
      return fail(id, "idle state and idle stack disagree");
    if (e.state == conn_state::idle && e.credit != e.capacity)
      return fail(id, "idle without all its credit");
    if (e.state == conn_state::piping && e.credit >= e.capacity)
      return fail(id, "piping with all its credit");
    if ((e.state == conn_state::leased || e.state == conn_state::validating ||
         e.state == conn_state::closing) &&
        e.credit != 0)
      return fail(id, "exclusive use with credit left");
    bool room = e.state == conn_state::piping && e.credit > 0 && !e.retiring;
    if (room != (in_credit == 1) || in_credit > 1)
      return fail(id, "credit list disagrees");
    if (e.state == conn_state::closing)
      ++closing;
    demand += weight(e);
  }
  for (auto id : idle_)
    if (entries_.count(id) == 0)
      return fail(id, "unknown in the idle stack");
  for (auto id : with_credit_)
    if (entries_.count(id) == 0)
      return fail(id, "unknown in the credit list");
  if (closing != closing_) {
    why = "closing count is off";
    return false;
  }
  if (demand != demand_) {
    why = "demand count is off";
    return false;
  }
  return true;
}

} // namespace pool
