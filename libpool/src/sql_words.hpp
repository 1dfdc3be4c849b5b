#pragma once

// Reading SQL text without parsing it: the first word of a statement after
// white space and comments. Used by PostgreSQL's dialect (what may pipeline)
// and by the libpq connection (COPY is refused before sending).

#include <cctype>
#include <cstddef>
#include <string_view>

namespace pool {

/// Skips white space and SQL comments (-- to the end of the line, /* */
/// nesting as in PostgreSQL) in `sql` from `i`; returns the index of the
/// first other character, or `sql.size()`.
inline size_t skip_blanks(std::string_view sql, size_t i) {
  auto n = sql.size();
  while (i < n) {
    auto c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      i = sql.find('\n', i);
      if (i == std::string_view::npos)
        return n;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      int depth = 0;
      while (i < n) {
        if (sql.compare(i, 2, "/*") == 0) {
          ++depth;
          i += 2;
        } else if (sql.compare(i, 2, "*/") == 0) {
          i += 2;
          if (--depth == 0)
            break;
        } else {
          ++i;
        }
      }
    } else {
      break;
    }
  }
  return i;
}

/// Returns the first word of `sql` after white space and comments, as
/// PostgreSQL's lexer sees an identifier (letters, digits, `_`, `$`), or ""
/// if the statement starts with anything else (e.g. a parenthesis).
inline std::string_view first_word(std::string_view sql) {
  auto i = skip_blanks(sql, 0);
  auto j = i;
  while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) ||
                            sql[j] == '_' || sql[j] == '$'))
    ++j;
  return sql.substr(i, j - i);
}

/// Returns whether `word` is `keyword` (given in lower case) in any letter
/// case.
inline bool is_keyword(std::string_view word, std::string_view keyword) {
  if (word.size() != keyword.size())
    return false;
  for (size_t k = 0; k < word.size(); ++k)
    if (std::tolower(static_cast<unsigned char>(word[k])) != keyword[k])
      return false;
  return true;
}

} // namespace pool
