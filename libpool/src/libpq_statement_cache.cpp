#include "libpq_statement_cache.hpp"

namespace pool {

const std::string* statement_cache::find(const std::string& sql) {
  auto i = index_.find(std::string_view{sql});
  if (i == index_.end())
    return nullptr;
  lru_.splice(lru_.begin(), lru_, i->second); // keeps iterators valid
  return &i->second->second;
}

void statement_cache::insert(const std::string& sql, std::string name,
                             std::vector<std::string>& evicted) {
  if (auto i = index_.find(std::string_view{sql}); i != index_.end()) {
    auto node = i->second;
    evicted.push_back(std::move(node->second));
    index_.erase(i); // before the node: the key views the node's SQL
    lru_.erase(node);
  }
  while (!lru_.empty() && lru_.size() >= capacity_) {
    auto& victim = lru_.back();
    index_.erase(std::string_view{victim.first});
    evicted.push_back(std::move(victim.second));
    lru_.pop_back();
  }
  lru_.emplace_front(sql, std::move(name));
  index_.emplace(std::string_view{lru_.front().first}, lru_.begin());
}

void statement_cache::erase(const std::string& sql, const std::string& name) {
  auto i = index_.find(std::string_view{sql});
  if (i == index_.end() || i->second->second != name)
    return;
  auto node = i->second;
  index_.erase(i);
  lru_.erase(node);
}

void statement_cache::clear() {
  index_.clear();
  lru_.clear();
}

} // namespace pool
