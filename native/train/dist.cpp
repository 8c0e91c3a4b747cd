// c10d process groups for data-parallel training: see dist.h for the plan.
#include "train/dist.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef CHATBERT_WITH_GLOO
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CHATBERT_WITH_NCCL
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "torch_compat.h"

namespace chatbert::dist {

using Clock = std::chrono::steady_clock;

std::vector<std::string> available_backends() {
  std::vector<std::string> out;
#ifdef CHATBERT_WITH_GLOO
  out.push_back("gloo");
#endif
#ifdef CHATBERT_WITH_NCCL
  out.push_back("nccl");
#endif
  return out;
}

namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string Text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

c10::intrusive_ptr<c10d::TCPStore> ConnectStore(const GroupOptions& o, bool server, bool counted) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(o.master_port);
  so.isServer = server;
  so.numWorkers = counted ? c10::optional<std::size_t>(o.world_size) : c10::nullopt;
  so.waitWorkers = counted;
  so.timeout = o.timeout;
  return c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
}

std::string HeartbeatKey(int rank) { return "chatbert/heartbeat/" + std::to_string(rank); }

}  // namespace

struct Group::Impl {
  GroupOptions opt;
  torch::Device device{torch::kCPU};
  c10::intrusive_ptr<c10d::TCPStore> store;    // the rendezvous (rank 0: the server)
  c10::intrusive_ptr<c10d::TCPStore> control;  // signal/wait and the post-mortem (own connection)
  std::mutex control_mu;
  c10::intrusive_ptr<compat::C10dGroup> pg;
  std::thread heartbeat;
  std::atomic<bool> stopping{false};
  mutable std::mutex stats_mu;
  CommStats stats;
  bool closed = false;

  void check_open() const {
    if (closed) throw std::runtime_error("the process group was closed");
  }

  // A counter per rank in the store, bumped twice a second on a connection of its own, so that a
  // rank busy in a long native call still shows it is alive; a killed or frozen one stops.
  void start_heartbeat() {
    auto hb = ConnectStore(opt, /*server=*/false, /*counted=*/false);
    hb->set(HeartbeatKey(opt.rank), Bytes("0"));
    heartbeat = std::thread([this, hb] {
      int64_t beat = 0;
      while (!stopping.load()) {
        try {
          hb->set(HeartbeatKey(opt.rank), Bytes(std::to_string(++beat)));
        } catch (...) {
          // The store's host is gone: the collectives will say so.
        }
        for (int i = 0; i < 5 && !stopping.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }

  std::vector<int64_t> read_heartbeats() {
    std::lock_guard<std::mutex> lock(control_mu);
    std::vector<int64_t> out(opt.world_size, -1);
    for (int r = 0; r < opt.world_size; ++r) {
      if (r == opt.rank || !control->check({HeartbeatKey(r)})) continue;
      out[r] = std::stoll(Text(control->get(HeartbeatKey(r))));
    }
    return out;
  }

  // Who stopped: the ranks whose heartbeat did not move for a while (or the store's host).
  std::string lost_ranks(std::chrono::milliseconds watch) {
    try {
      auto before = read_heartbeats();
      std::this_thread::sleep_for(watch);
      auto after = read_heartbeats();
      std::vector<int> lost;
      for (int r = 0; r < opt.world_size; ++r)
        if (r != opt.rank && after[r] == before[r]) lost.push_back(r);
      if (lost.empty()) return "every other rank is still alive (one is slow, or failed on its own: see its log)";
      std::ostringstream s;
      s << (lost.size() == 1 ? "rank " : "ranks ");
      for (size_t i = 0; i < lost.size(); ++i) s << (i ? ", " : "") << lost[i];
      s << (lost.size() == 1 ? " is" : " are") << " gone (no heartbeat for " << watch.count() / 1000.0 << " s)";
      return s.str();
    } catch (const std::exception&) {
      return "rank 0 is gone (its rendezvous store at " + opt.master_addr + ":" + std::to_string(opt.master_port) + " no longer answers)";
    }
  }

  // Every rank must start with the same MASTER_ADDR:MASTER_PORT and WORLD_SIZE within the timeout.
  std::string rendezvous_failure(const std::string& cause) const {
    return "rendezvous at " + opt.master_addr + ":" + std::to_string(opt.master_port) + " (rank " + std::to_string(opt.rank) + " of " +
           std::to_string(opt.world_size) + ") failed within " + std::to_string(opt.timeout.count() / 1000) +
           " s: are all ranks started, with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE? (" + cause + ")";
  }

  [[noreturn]] void fail(const std::string& what, const std::string& cause) {
    const auto watch = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(3000), opt.timeout);
    throw std::runtime_error("data-parallel rank " + std::to_string(opt.rank) + " of " + std::to_string(opt.world_size) + ": " + what + " failed: " +
                             lost_ranks(watch) + ". (" + cause + ")");
  }

  template <typename F>
  auto guarded(const std::string& what, F&& f) -> decltype(f()) {
    check_open();
    try {
      return f();
    } catch (const c10::Error& e) {
      fail(what, compat::error_message(e));
    } catch (const std::exception& e) {
      fail(what, e.what());
    }
  }

  // Runs one collective on `t` (a contiguous tensor on the collective device) and waits.
  void all_reduce_one(torch::Tensor& t, c10d::ReduceOp op, const std::string& what) {
    guarded(what, [&] {
      std::vector<torch::Tensor> ts{t};
      c10d::AllreduceOptions ao;
      ao.reduceOp = op;
      pg->allreduce(ts, ao)->wait();
      return 0;
    });
  }

  // Gloo here is the CPU transport: CUDA tensors go through host copies. NCCL works in place.
  torch::Tensor staged(const torch::Tensor& t) const { return t.to(device); }
};

Group::Group(const GroupOptions& o) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.opt = o;
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size)
    throw std::invalid_argument("rank " + std::to_string(o.rank) + " is outside a world of " + std::to_string(o.world_size));
  const auto backends = available_backends();
  if (std::find(backends.begin(), backends.end(), o.backend) == backends.end()) {
    std::string have;
    for (const auto& b : backends) have += (have.empty() ? "" : ", ") + b;
    throw std::invalid_argument("backend '" + o.backend + "' is not in this build (it has: " + (have.empty() ? "none" : have) +
                                "). Gloo needs gloo's headers at build time (Debian: apt-get install libgloo-dev, then npm run build:native); "
                                "NCCL a CUDA LibTorch built with it.");
  }
  try {
    // Rank 0 hosts the store and waits here until all world_size ranks have connected.
    m.store = ConnectStore(o, o.rank == 0, /*counted=*/true);
    m.control = ConnectStore(o, false, false);
  } catch (const c10::Error& e) {
    throw std::runtime_error(m.rendezvous_failure(compat::error_message(e)));
  } catch (const std::exception& e) {
    throw std::runtime_error(m.rendezvous_failure(e.what()));
  }
  m.start_heartbeat();
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>("chatbert/pg", m.store);
  try {
    if (o.backend == "gloo") {
#ifdef CHATBERT_WITH_GLOO
      auto go = c10d::ProcessGroupGloo::Options::create(o.timeout);
      // GLOO_SOCKET_IFNAME picks the interface as in PyTorch; a loopback rendezvous stays on loopback.
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname && *ifname)
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (o.master_addr == "127.0.0.1" || o.master_addr == "localhost")
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      go->threads = 2;
      m.pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, o.rank, o.world_size, go);
#endif
    } else {
#ifdef CHATBERT_WITH_NCCL
      auto no = c10d::ProcessGroupNCCL::Options::create();
      no->timeout = o.timeout;
      m.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(o.local_rank));
      m.pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, o.rank, o.world_size, no);
#endif
    }
  } catch (const std::exception& e) {
    m.stopping = true;
    if (m.heartbeat.joinable()) m.heartbeat.join();
    const auto* c10 = dynamic_cast<const c10::Error*>(&e);
    throw std::runtime_error(m.rendezvous_failure(std::string("creating the ") + o.backend + " process group: " + (c10 ? compat::error_message(*c10) : e.what())));
  }
}

Group::~Group() {
  try {
    close();
  } catch (...) {
  }
}

int Group::rank() const { return impl_->opt.rank; }
int Group::world_size() const { return impl_->opt.world_size; }
const GroupOptions& Group::options() const { return impl_->opt; }
torch::Device Group::device() const { return impl_->device; }

void Group::all_reduce(std::vector<torch::Tensor>& grads) {
  auto& m = *impl_;
  if (grads.empty()) return;
  const auto t0 = Clock::now();
  // Buckets of one dtype and device, at most bucket_bytes each (a larger tensor is a bucket alone).
  struct Bucket {
    std::vector<size_t> members;
    int64_t bytes = 0;
    torch::Tensor flat;
  };
  std::vector<Bucket> buckets;
  for (size_t i = 0; i < grads.size(); ++i) {
    const auto& g = grads[i];
    const int64_t bytes = g.numel() * static_cast<int64_t>(g.element_size());
    if (buckets.empty() || buckets.back().bytes + bytes > m.opt.bucket_bytes || grads[buckets.back().members[0]].scalar_type() != g.scalar_type() ||
        grads[buckets.back().members[0]].device() != g.device())
      buckets.emplace_back();
    buckets.back().members.push_back(i);
    buckets.back().bytes += bytes;
  }
  double total = 0;
  m.guarded("gradient all-reduce", [&] {
    std::vector<compat::c10d_work_ptr<compat::C10dGroup>> works;
    for (auto& b : buckets) {
      std::vector<torch::Tensor> parts;
      for (size_t i : b.members) parts.push_back(grads[i].reshape({-1}));
      b.flat = m.staged(torch::cat(parts));
      std::vector<torch::Tensor> ts{b.flat};
      works.push_back(m.pg->allreduce(ts));  // launched now, waited below: the buckets pipeline
      total += static_cast<double>(b.bytes);
    }
    for (auto& w : works) w->wait();
    return 0;
  });
  for (auto& b : buckets) {
    int64_t at = 0;
    for (size_t i : b.members) {
      auto& g = grads[i];
      g.copy_(b.flat.narrow(0, at, g.numel()).view_as(g));
      at += g.numel();
    }
  }
  std::lock_guard<std::mutex> lock(m.stats_mu);
  m.stats.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  m.stats.bytes += total;
  m.stats.calls += static_cast<int64_t>(buckets.size());
}

void Group::all_reduce_stats(torch::Tensor& stats) {
  auto& m = *impl_;
  const auto t0 = Clock::now();
  auto t = m.staged(stats.contiguous());
  m.all_reduce_one(t, c10d::ReduceOp::SUM, "statistics all-reduce");
  stats.copy_(t);
  std::lock_guard<std::mutex> lock(m.stats_mu);
  m.stats.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  m.stats.calls++;
}

std::vector<double> Group::sum(const std::vector<double>& values) { return all_reduce_host(values, "sum"); }

std::vector<double> Group::all_reduce_host(const std::vector<double>& values, const std::string& op) {
  auto& m = *impl_;
  c10d::ReduceOp rop = c10d::ReduceOp::SUM;
  if (op == "max")
    rop = c10d::ReduceOp::MAX;
  else if (op == "min")
    rop = c10d::ReduceOp::MIN;
  else if (op != "sum")
    throw std::invalid_argument("op must be 'sum', 'max' or 'min', got '" + op + "'");
  if (values.empty()) return {};
  auto t = m.staged(torch::tensor(values, torch::kFloat64));
  m.all_reduce_one(t, rop, "all-reduce of " + std::to_string(values.size()) + " values");
  t = t.cpu();
  return {t.data_ptr<double>(), t.data_ptr<double>() + t.numel()};
}

torch::Tensor Group::all_gather_rows(const torch::Tensor& local, int64_t* offset) {
  auto& m = *impl_;
  const int W = m.opt.world_size, R = m.opt.rank;
  // Row counts first (shards may differ by a row), then one all-gather of equally padded blocks.
  std::vector<double> counts(W, 0.0);
  counts[R] = static_cast<double>(local.size(0));
  counts = sum(counts);
  int64_t max_rows = 0, before = 0;
  for (int r = 0; r < W; ++r) {
    max_rows = std::max<int64_t>(max_rows, static_cast<int64_t>(counts[r]));
    if (r < R) before += static_cast<int64_t>(counts[r]);
  }
  auto shape = local.sizes().vec();
  shape[0] = max_rows;
  auto padded = torch::zeros(shape, local.options());
  padded.narrow(0, 0, local.size(0)).copy_(local.detach());
  auto sent = m.staged(padded);
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < W; ++r) out[0].push_back(torch::empty_like(sent));
  m.guarded("all-gather", [&] {
    std::vector<torch::Tensor> in{sent};
    m.pg->allgather(out, in)->wait();
    return 0;
  });
  std::vector<torch::Tensor> rows;
  for (int r = 0; r < W; ++r) rows.push_back(r == R ? local : out[0][r].to(local.device()).narrow(0, 0, static_cast<int64_t>(counts[r])));
  if (offset) *offset = before;
  return torch::cat(rows);
}

void Group::broadcast_from_rank0(const std::vector<torch::Tensor>& tensors) {
  auto& m = *impl_;
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    auto buf = m.staged(t.detach().contiguous());
    m.guarded("broadcast of the parameters from rank 0", [&] {
      std::vector<torch::Tensor> ts{buf};
      c10d::BroadcastOptions bo;
      bo.rootRank = 0;
      m.pg->broadcast(ts, bo)->wait();
      return 0;
    });
    t.detach().copy_(buf);
  }
}

void Group::barrier() {
  auto& m = *impl_;
  // A one-element all-reduce: Gloo's barrier, but with the same failure report as the rest.
  auto t = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat32).device(m.device));
  m.all_reduce_one(t, c10d::ReduceOp::SUM, "barrier");
}

void Group::signal(const std::string& tag) {
  auto& m = *impl_;
  m.check_open();
  std::lock_guard<std::mutex> lock(m.control_mu);
  m.control->set("chatbert/signal/" + tag, Bytes("1"));
}

void Group::wait(const std::string& tag, int owner) {
  auto& m = *impl_;
  m.check_open();
  if (owner < 0 || owner >= m.opt.world_size) throw std::invalid_argument("owner rank out of range");
  const std::string key = "chatbert/signal/" + tag;
  int64_t last_beat = -2;
  auto last_change = Clock::now();
  for (;;) {
    try {
      {
        std::lock_guard<std::mutex> lock(m.control_mu);
        if (m.control->check({key})) return;
      }
      const auto beats = m.read_heartbeats();
      if (beats[owner] != last_beat) {
        last_beat = beats[owner];
        last_change = Clock::now();
      }
    } catch (const std::exception& e) {
      m.fail("waiting for rank " + std::to_string(owner) + " (" + tag + ")", e.what());
    }
    if (Clock::now() - last_change > m.opt.timeout)
      throw std::runtime_error("data-parallel rank " + std::to_string(m.opt.rank) + ": rank " + std::to_string(owner) + " is gone (no heartbeat for " +
                               std::to_string(m.opt.timeout.count() / 1000) + " s while waiting for its " + tag + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

CommStats Group::stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mu);
  return impl_->stats;
}

void Group::reset_stats() {
  std::lock_guard<std::mutex> lock(impl_->stats_mu);
  impl_->stats = CommStats{};
}

void Group::close() {
  auto& m = *impl_;
  if (m.closed) return;
  m.closed = true;
  m.stopping = true;
  if (m.heartbeat.joinable()) m.heartbeat.join();
  m.pg.reset();
  m.control.reset();
  m.store.reset();
}

}  // namespace chatbert::dist
