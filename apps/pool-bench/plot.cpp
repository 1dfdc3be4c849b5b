#include "plot.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <unistd.h>

namespace bench {

namespace {

namespace fs = std::filesystem;

bool find_gnuplot() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs{path != nullptr ? path : "/usr/bin:/bin"};
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((dir + "/gnuplot").c_str(), X_OK) == 0)
      return true;
  return false;
}

/// A gnuplot single-quoted string ('' stands for ').
std::string quoted(const std::string& x) {
  std::string out = "'";
  for (char c : x)
    out += c == '\'' ? std::string{"''"} : std::string{c};
  return out + "'";
}

bool write_cdf(const fs::path& file, const histogram& h) {
  std::ofstream out{file};
  for (auto& [us, fraction] : h.cdf())
    out << us << ' ' << fraction << '\n';
  return static_cast<bool>(out);
}

std::string panel(const fs::path& dir, size_t i, const config_result& r) {
  auto base = std::to_string(i);
  std::ostringstream gp;
  char title[200];
  std::snprintf(title, sizeof(title),
                "%zu clients, pool %zu: raw libpq %.0f q/s", r.spec.clients,
                r.spec.pool, r.raw.qps);
  std::string t = title;
  for (const auto& p : r.pools) {
    std::snprintf(title, sizeof(title), "; pool %s %.0f q/s (%.2f)",
                  to_string(p.mode), p.load.qps,
                  r.raw.qps > 0 ? p.load.qps / r.raw.qps : 0.0);
    t += title;
  }
  gp << "set title " << quoted(t) << "\n";
  gp << "plot ";
  const char* colours[] = {"#1f77b4", "#2ca02c"};
  for (size_t j = 0; j < r.pools.size(); ++j)
    gp << quoted((dir / ("pool" + base + "_" + std::to_string(j))).string())
       << " using 1:2 with steps lw 2 lc rgb '" << colours[j % 2] << "' title "
       << quoted("pool, " + std::string{to_string(r.pools[j].mode)} +
                 " scheduler (" + std::to_string(r.spec.clients) + " actors)")
       << ", ";
  gp << quoted((dir / ("raw" + base)).string())
     << " using 1:2 with steps lw 2 lc rgb '#d62728' title "
     << quoted("raw libpq (" + std::to_string(r.spec.pool) + " threads)");
  if (r.connect.ran && r.connect.hist.count() > 0)
    gp << ", " << quoted((dir / ("connect" + base)).string())
       << " using 1:2 with steps lw 2 dt 2 lc rgb '#7f7f7f' title "
       << quoted("connect per request");
  gp << "\n";
  return gp.str();
}

} // namespace

plot_status plot_latency(const std::string& png,
                         const std::vector<config_result>& rs,
                         std::string& message) {
  if (!find_gnuplot()) {
    message = "gnuplot not found in PATH: skipping the plot (install "
              "gnuplot-nox)";
    return plot_status::no_gnuplot;
  }
  char tmpl[] = "/tmp/pool-bench-plot.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    message = "cannot create a temporary directory for the plot";
    return plot_status::failed;
  }
  fs::path dir{tmpl};
  auto cols = rs.size() > 1 ? 2 : 1;
  auto rows = (rs.size() + 1) / static_cast<size_t>(cols);
  std::ostringstream gp;
  gp << "set terminal pngcairo size " << 720 * cols << "," << 500 * rows + 40
     << " font ',10'\n"
     << "set output " << quoted(png) << "\n"
     << "set multiplot layout " << rows << "," << cols << " title "
     << quoted("pool-bench: CDF of end-to-end latency of SELECT $1::int "
               "(client and server share " +
               std::to_string(std::thread::hardware_concurrency()) + " cores)")
     << "\nset logscale x\nset format x '10^{%L}'\nset grid xtics ytics "
        "mxtics\nset xlabel 'latency (us, log scale)'\n"
        "set ylabel 'fraction of queries <= x'\nset yrange [0:1]\n"
        "set key below horizontal\n";
  bool ok = true;
  for (size_t i = 0; i < rs.size(); ++i) {
    auto base = std::to_string(i);
    for (size_t j = 0; j < rs[i].pools.size(); ++j)
      ok &= write_cdf(dir / ("pool" + base + "_" + std::to_string(j)),
                      rs[i].pools[j].load.hist);
    ok &= write_cdf(dir / ("raw" + base), rs[i].raw.hist);
    if (rs[i].connect.ran)
      ok &= write_cdf(dir / ("connect" + base), rs[i].connect.hist);
    gp << panel(dir, i, rs[i]);
  }
  gp << "unset multiplot\n";
  auto script = dir / "plot.gp";
  auto errors = dir / "gnuplot.err";
  std::ofstream{script} << gp.str();
  plot_status status = plot_status::failed;
  if (!ok) {
    message = "cannot write the plot's data files in " + dir.string();
  } else {
    std::error_code stale;
    fs::remove(png, stale);
    auto cmd = "gnuplot " + script.string() + " 2>" + errors.string();
    auto rc = std::system(cmd.c_str());
    std::ifstream err_in{errors};
    std::string err{std::istreambuf_iterator<char>{err_in}, {}};
    if (rc != 0 || !fs::exists(png)) {
      message = "gnuplot failed (status " + std::to_string(rc) + "): " + err;
    } else {
      message = "wrote " + png;
      status = plot_status::written;
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return status;
}

} // namespace bench
