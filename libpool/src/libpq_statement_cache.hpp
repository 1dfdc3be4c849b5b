#pragma once

// The libpq connection's cache of prepared statements: plain bookkeeping,
// no libpq (unit-tested on its own).

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pool {

/// Per-connection LRU cache of prepared statements, keyed by SQL text. Holds
/// only names; the statements live on the server.
class statement_cache {
 public:
  /// A cache of at most `capacity` statements (0: the cache is unused).
  explicit statement_cache(size_t capacity) : capacity_(capacity) {}

  /// Returns the statement name for `sql` and marks it most recently used,
  /// or nullptr if `sql` is not cached.
  const std::string* find(const std::string& sql);

  /// Caches `sql` as `name`. If the cache was full, the least recently used
  /// entry is dropped and its name appended to `evicted`.
  void insert(const std::string& sql, std::string name,
              std::vector<std::string>& evicted);

  /// Drops `sql` if it is cached as `name` (the server forgot it).
  void erase(const std::string& sql, const std::string& name);

  /// Drops every entry (after DISCARD ALL / DEALLOCATE ALL).
  void clear();

  /// Returns the number of cached statements.
  size_t size() const { return lru_.size(); }

 private:
  using entry = std::pair<std::string, std::string>; // SQL, name
  size_t capacity_;
  std::list<entry> lru_; // most recently used first
  std::unordered_map<std::string_view, std::list<entry>::iterator> index_;
};

} // namespace pool
