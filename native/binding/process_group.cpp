#include "binding/process_group.h"

#include "binding/addon.h"
#include "binding/util.h"

namespace chatbert::js {

Napi::Function ProcessGroupWrap::Init(Napi::Env env) {
  auto cls = DefineClass(env, "ProcessGroup",
                         {StaticMethod<&ProcessGroupWrap::Connect>("connect"), StaticMethod<&ProcessGroupWrap::Backends>("backends"),
                          InstanceMethod<&ProcessGroupWrap::AllReduce>("allReduce"), InstanceMethod<&ProcessGroupWrap::Barrier>("barrier"),
                          InstanceMethod<&ProcessGroupWrap::Signal>("signal"), InstanceMethod<&ProcessGroupWrap::Wait>("wait"),
                          InstanceMethod<&ProcessGroupWrap::Stats>("stats"), InstanceMethod<&ProcessGroupWrap::ResetStats>("resetStats"),
                          InstanceMethod<&ProcessGroupWrap::Close>("close"), InstanceAccessor<&ProcessGroupWrap::GetRank>("rank"),
                          InstanceAccessor<&ProcessGroupWrap::GetWorldSize>("worldSize"), InstanceAccessor<&ProcessGroupWrap::GetBackend>("backend")});
  Data(env).process_group = Napi::Persistent(cls);
  return cls;
}

// Made only by connect(), which hands the joined group over in an External.
ProcessGroupWrap::ProcessGroupWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "use ProcessGroup.connect(options) to join a group");
  group_ = *info[0].As<Napi::External<std::shared_ptr<dist::Group>>>().Data();
}

std::shared_ptr<dist::Group> ProcessGroupWrap::group(Napi::Env env) const {
  if (!group_) throw Napi::Error::New(env, "the process group was closed");
  return group_;
}

std::shared_ptr<dist::Group> ProcessGroupWrap::FromValue(const Napi::Value& v, const std::string& name) {
  Napi::Env env = v.Env();
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Data(env).process_group.Value())) throw Napi::TypeError::New(env, name + " must be a ProcessGroup");
  return Unwrap(v.As<Napi::Object>())->group(env);
}

// ProcessGroup.connect({ backend, masterAddr, masterPort, rank, worldSize, localRank?, timeoutMs?,
//   bucketMb? }) -> Promise<ProcessGroup>, settled once every rank has joined.
Napi::Value ProcessGroupWrap::Connect(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "ProcessGroup.connect(options): options must be an object");
    auto o = info[0].As<Napi::Object>();
    dist::GroupOptions g;
    g.backend = StringOption(o, "backend", "gloo");
    if (g.backend != "gloo" && g.backend != "nccl") throw Napi::RangeError::New(env, "options.backend must be 'gloo' or 'nccl', got '" + g.backend + "'");
    g.master_addr = StringOption(o, "masterAddr", "127.0.0.1");
    if (g.master_addr.empty()) throw Napi::RangeError::New(env, "options.masterAddr is empty");
    g.master_port = static_cast<int>(IntegerArg(o.Get("masterPort"), "options.masterPort", 1, 65535));
    g.world_size = static_cast<int>(IntegerArg(o.Get("worldSize"), "options.worldSize", 1, 1 << 16));
    g.rank = static_cast<int>(IntegerArg(o.Get("rank"), "options.rank", 0, g.world_size - 1));
    g.local_rank = static_cast<int>(IntegerOption(o, "localRank", 0, 0, 1 << 16));
    g.timeout = std::chrono::milliseconds(IntegerOption(o, "timeoutMs", 300000, 100, int64_t(24) * 3600 * 1000));
    g.bucket_bytes = static_cast<int64_t>(NumberOption(o, "bucketMb", 25, 0.001, 4096) * (1 << 20));
    auto holder = std::make_shared<std::shared_ptr<dist::Group>>();
    return PromiseWorker::Queue(
        env, Napi::Object(),
        [g, holder] { *holder = std::make_shared<dist::Group>(g); },
        [holder](Napi::Env env) -> Napi::Value {
          auto ext = Napi::External<std::shared_ptr<dist::Group>>::New(env, new std::shared_ptr<dist::Group>(*holder),
                                                                         [](Napi::Env, std::shared_ptr<dist::Group>* p) { delete p; });
          return Data(env).process_group.New({ext});
        });
  });
}

Napi::Value ProcessGroupWrap::Backends(const Napi::CallbackInfo& info) {
  auto names = dist::available_backends();
  auto a = Napi::Array::New(info.Env(), names.size());
  for (uint32_t i = 0; i < names.size(); ++i) a.Set(i, names[i]);
  return a;
}

// allReduce(values: number[] | Float64Array, op?: 'sum' | 'max' | 'min') -> Promise<number[]>
Napi::Value ProcessGroupWrap::AllReduce(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto g = group(env);
    std::vector<double> values;
    if (info.Length() > 0 && info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) {
      auto a = info[0].As<Napi::Float64Array>();
      values.assign(a.Data(), a.Data() + a.ElementLength());
    } else if (info.Length() > 0 && info[0].IsArray()) {
      auto a = info[0].As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) values.push_back(NumberArg(a.Get(i), "values[" + std::to_string(i) + "]", -1e308, 1e308));
    } else {
      throw Napi::TypeError::New(env, "allReduce(values, op): values must be an array of numbers or a Float64Array");
    }
    const std::string op = info.Length() > 1 && !info[1].IsUndefined() ? StringArg(info[1], "op") : "sum";
    if (op != "sum" && op != "max" && op != "min") throw Napi::RangeError::New(env, "op must be 'sum', 'max' or 'min', got '" + op + "'");
    auto out = std::make_shared<std::vector<double>>();
    return PromiseWorker::Queue(
        env, Value(), [g, values, op, out] { *out = g->all_reduce_host(values, op); },
        [out](Napi::Env env) -> Napi::Value {
          auto a = Napi::Array::New(env, out->size());
          for (uint32_t i = 0; i < out->size(); ++i) a.Set(i, (*out)[i]);
          return a;
        });
  });
}

Napi::Value ProcessGroupWrap::Barrier(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    auto g = group(info.Env());
    return PromiseWorker::Queue(info.Env(), Value(), [g] { g->barrier(); }, nullptr);
  });
}

// signal(tag): tells the ranks waiting on `tag` that this one is done with it.
Napi::Value ProcessGroupWrap::Signal(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    auto g = group(info.Env());
    const std::string tag = StringArg(info.Length() ? info[0] : info.Env().Undefined(), "tag");
    return PromiseWorker::Queue(info.Env(), Value(), [g, tag] { g->signal(tag); }, nullptr);
  });
}

// wait(tag, owner): settles once `owner` signals `tag`; rejects when its heartbeat stops.
Napi::Value ProcessGroupWrap::Wait(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto g = group(env);
    const std::string tag = StringArg(info.Length() ? info[0] : env.Undefined(), "tag");
    const int owner = static_cast<int>(IntegerArg(info.Length() > 1 ? info[1] : env.Undefined(), "owner", 0, g->world_size() - 1));
    return PromiseWorker::Queue(env, Value(), [g, tag, owner] { g->wait(tag, owner); }, nullptr);
  });
}

// stats() -> { seconds, bytes, calls }: time in the step's collectives since the last resetStats().
Napi::Value ProcessGroupWrap::Stats(const Napi::CallbackInfo& info) {
  const auto s = group(info.Env())->stats();
  auto o = Napi::Object::New(info.Env());
  o.Set("seconds", s.seconds);
  o.Set("bytes", s.bytes);
  o.Set("calls", static_cast<double>(s.calls));
  return o;
}

Napi::Value ProcessGroupWrap::ResetStats(const Napi::CallbackInfo& info) {
  group(info.Env())->reset_stats();
  return info.Env().Undefined();
}

// close(): leaves the group (idempotent). Trainers that joined keep a reference until disposed.
Napi::Value ProcessGroupWrap::Close(const Napi::CallbackInfo& info) {
  if (group_) group_->close();
  group_.reset();
  return info.Env().Undefined();
}

Napi::Value ProcessGroupWrap::GetRank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group(info.Env())->rank()); }
Napi::Value ProcessGroupWrap::GetWorldSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group(info.Env())->world_size()); }
Napi::Value ProcessGroupWrap::GetBackend(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), group(info.Env())->options().backend); }

}  // namespace chatbert::js
