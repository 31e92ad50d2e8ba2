// addon.cc - the raw Node-API layer of Cairn: thin, close to the C API (cairn.h).
//
// The idiomatic API (value kinds, options, error classes, EventEmitter, transactions) lives in
// lib/index.js; this file only moves bytes and handles across the boundary.
//
// Rules kept here:
//  - Context-aware: everything per environment lives in AddonData (env instance data); there are
//    no static napi values, so the addon loads in any number of worker_threads.
//  - Errors: every failure throws the object made by the JS error factory (setErrorFactory), so
//    each one is an Error with string .code ('CAIRN_NOTFOUND') and numeric .errno (the C code).
//    The thread-local C message is copied on the thread where the failure happened.
//  - One handle class per engine, all built on Store<Engine> (below): it holds what every engine
//    shares (lifetime, closed check, open/check, transactions, sync/compact, count, stats,
//    option parsing), so an engine class is its own methods and nothing else.
//  - Slow calls (open, check, sync, compact) have Promise variants run on the libuv thread pool.
//    A handle counts its in-flight work: close() while work is running marks the handle closed
//    at once and closes the C handle when the last piece of work ends.
//  - A handle that is garbage collected without close() is closed by its finalizer (backstop).
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cairn.h"

namespace {

// ------------------------------------------------------------------------------------------
// Per-environment data
// ------------------------------------------------------------------------------------------
struct AddonData {
    Napi::FunctionReference errorFactory;  // (errno, message) -> Error instance
    std::map<std::string, Napi::FunctionReference> ctors;  // by class name: "KVHandle", ...
    // Out-parameters shared with lib/index.js (setScratch): small byte values are copied into
    // `scratch` and sliced out by JS, because creating a Buffer through Node-API costs several
    // microseconds while a pooled JS Buffer costs a few hundred nanoseconds. meta[0] is the
    // kind of the last value returned by get().
    Napi::ObjectReference scratchRef;
    Napi::ObjectReference metaRef;
    char *scratch = nullptr;
    size_t scratchLen = 0;
    int32_t *meta = nullptr;
};

AddonData *Data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// Values up to this size are copied into a fresh Buffer; larger ones are handed over with
// Buffer::NewOrCopy (zero-copy where external buffers are allowed, a copy where they are not).
constexpr size_t kSmallValue = 4096;

// ------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------
std::string LastMessage(int rc) {
    const char *m = cairn_errmsg();
    if (m == nullptr || *m == '\0' || cairn_errcode() != rc) m = cairn_errstr(rc);
    return std::string(m);
}

Napi::Value MakeError(Napi::Env env, int code, const std::string &msg) {
    AddonData *d = Data(env);
    if (d != nullptr && !d->errorFactory.IsEmpty()) {
        return d->errorFactory.Call({Napi::Number::New(env, code), Napi::String::New(env, msg)});
    }
    Napi::Error e = code == CAIRN_TYPE ? Napi::TypeError::New(env, msg) : Napi::Error::New(env, msg);
    e.Set("code", Napi::String::New(env, cairn_errname(code)));
    e.Set("errno", Napi::Number::New(env, code));
    return e.Value();
}

[[noreturn]] void Throw(Napi::Env env, int code, const std::string &msg) {
    throw Napi::Error(env, MakeError(env, code, msg));
}

inline void Check(Napi::Env env, int rc) {
    if (rc < 0) Throw(env, rc, LastMessage(rc));
}

// ------------------------------------------------------------------------------------------
// Bytes in: string (UTF-8), Buffer / any TypedArray / DataView / ArrayBuffer (their bytes)
// ------------------------------------------------------------------------------------------
class Bytes {
  public:
    const char *data() const { return ptr_; }
    size_t size() const { return len_; }

    // Returns false (nothing thrown) when `v` is neither a string nor a byte source.
    bool From(napi_env env, napi_value v) {
        napi_valuetype t;
        if (napi_typeof(env, v, &t) != napi_ok) return false;
        if (t == napi_string) {
            size_t n = 0;
            NAPI_THROW_IF_FAILED(env, napi_get_value_string_utf8(env, v, nullptr, 0, &n), false);
            char *dst = n < sizeof(small_) ? small_ : (owned_.resize(n + 1), &owned_[0]);
            size_t got = 0;
            NAPI_THROW_IF_FAILED(env, napi_get_value_string_utf8(env, v, dst, n + 1, &got), false);
            ptr_ = dst;
            len_ = got;
            return true;
        }
        if (t != napi_object) return false;
        bool is = false;
        napi_is_typedarray(env, v, &is);
        if (is) {
            napi_typedarray_type tt;
            size_t count = 0;
            void *p = nullptr;
            napi_get_typedarray_info(env, v, &tt, &count, &p, nullptr, nullptr);
            ptr_ = static_cast<const char *>(p);
            len_ = count * ElementSize(tt);
            return Fix();
        }
        napi_is_dataview(env, v, &is);
        if (is) {
            void *p = nullptr;
            napi_get_dataview_info(env, v, &len_, &p, nullptr, nullptr);
            ptr_ = static_cast<const char *>(p);
            return Fix();
        }
        napi_is_arraybuffer(env, v, &is);
        if (is) {
            void *p = nullptr;
            napi_get_arraybuffer_info(env, v, &p, &len_);
            ptr_ = static_cast<const char *>(p);
            return Fix();
        }
        return false;
    }

  private:
    // A zero-length view may report a NULL pointer; the C API wants a valid pointer.
    bool Fix() {
        if (ptr_ == nullptr) ptr_ = small_;
        return true;
    }
    static size_t ElementSize(napi_typedarray_type t) {
        switch (t) {
        case napi_int16_array: case napi_uint16_array: return 2;
        case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
        case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: return 8;
        default: return 1;
        }
    }
    const char *ptr_ = nullptr;
    size_t len_ = 0;
    char small_[512];
    std::string owned_;
};

void GetBytes(const Napi::CallbackInfo &info, size_t i, Bytes &out, const char *what) {
    if (i >= info.Length() || !out.From(info.Env(), info[i])) {
        Throw(info.Env(), CAIRN_TYPE,
              std::string(what) + " must be a string, a Buffer, a TypedArray or an ArrayBuffer");
    }
}

// ------------------------------------------------------------------------------------------
// Bytes out
// ------------------------------------------------------------------------------------------
bool ValidUtf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
        else return false;
        if (i + need >= n) return false; /* truncated sequence */
        for (size_t k = 1; k <= need; k++) {
            unsigned char cc = s[i + k];
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += need + 1;
    }
    return true;
}

Napi::Value KeyOut(Napi::Env env, const void *k, size_t n) {
    const char *p = static_cast<const char *>(k);
    if (ValidUtf8(reinterpret_cast<const unsigned char *>(p), n)) return Napi::String::New(env, p, n);
    return Napi::Buffer<char>::Copy(env, p, n);
}

void FreeCairn(Napi::Env, char *p) { cairn_free(p); }

// Takes ownership of `p` (cairn-allocated).
Napi::Value BufferOut(Napi::Env env, char *p, size_t n) {
    if (n <= kSmallValue) {
        Napi::Value v = Napi::Buffer<char>::Copy(env, p, n);
        cairn_free(p);
        return v;
    }
    return Napi::Buffer<char>::NewOrCopy(env, p, n, FreeCairn);
}

// ------------------------------------------------------------------------------------------
// Numbers in
// ------------------------------------------------------------------------------------------
double NumberArg(const Napi::CallbackInfo &info, size_t i, double dflt, const char *what) {
    if (i >= info.Length() || info[i].IsUndefined()) return dflt;
    if (!info[i].IsNumber()) Throw(info.Env(), CAIRN_TYPE, std::string(what) + " must be a number");
    return info[i].As<Napi::Number>().DoubleValue();
}

// A non-negative integer option (NaN, negative or fractional values are CAIRN_INVALID).
double UIntArg(const Napi::CallbackInfo &info, size_t i, double dflt, double max, const char *what) {
    double d = NumberArg(info, i, dflt, what);
    if (!std::isfinite(d) || d < 0 || d > max || std::floor(d) != d)
        Throw(info.Env(), CAIRN_INVALID, std::string(what) + " must be a non-negative integer in range");
    return d;
}

std::string PathArg(const Napi::CallbackInfo &info, size_t i) {
    if (i >= info.Length() || !info[i].IsString()) Throw(info.Env(), CAIRN_TYPE, "path must be a string");
    std::string p = info[i].As<Napi::String>().Utf8Value();
    if (p.empty()) Throw(info.Env(), CAIRN_INVALID, "path is empty");
    if (p.find('\0') != std::string::npos) Throw(info.Env(), CAIRN_INVALID, "path contains a NUL byte");
    return p;
}

// A blob key: a JS number that is an integer in 0..2^32-1.
uint32_t BlobKeyArg(const Napi::CallbackInfo &info, size_t i) {
    if (i >= info.Length() || !info[i].IsNumber()) Throw(info.Env(), CAIRN_TYPE, "blob key must be a number");
    double d = info[i].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::floor(d) != d) Throw(info.Env(), CAIRN_TYPE, "blob key must be an integer");
    if (d < 0 || d > 4294967295.0)
        Throw(info.Env(), CAIRN_INVALID, "blob key must be in 0..4294967295");
    return static_cast<uint32_t>(d);
}

// ------------------------------------------------------------------------------------------
// Thread-pool work: fn runs off the main thread and returns a Cairn code; done builds the
// result on the main thread. The error message is copied on the worker thread.
// ------------------------------------------------------------------------------------------
class Work : public Napi::AsyncWorker {
  public:
    using Fn = std::function<int()>;
    using Done = std::function<Napi::Value(Napi::Env)>;
    using Finally = std::function<void()>;

    static Napi::Promise Run(Napi::Env env, const char *name, Fn fn, Done done, Finally fin = nullptr,
                             Napi::Object keepAlive = Napi::Object()) {
        Work *w = new Work(env, name, std::move(fn), std::move(done), std::move(fin));
        if (!keepAlive.IsEmpty()) w->keep_ = Napi::Persistent(keepAlive);
        Napi::Promise p = w->deferred_.Promise();
        w->Queue();
        return p;
    }

  protected:
    void Execute() override {
        rc_ = fn_();
        if (rc_ < 0) msg_ = LastMessage(rc_);
    }
    void OnOK() override {
        Napi::Env env = Env();
        Napi::HandleScope scope(env);
        if (fin_) fin_();
        if (rc_ < 0) {
            deferred_.Reject(MakeError(env, rc_, msg_));
            return;
        }
        try {
            deferred_.Resolve(done_ ? done_(env) : env.Undefined());
        } catch (const Napi::Error &e) {
            deferred_.Reject(e.Value());
        }
    }
    void OnError(const Napi::Error &e) override {
        if (fin_) fin_();
        deferred_.Reject(e.Value());
    }

  private:
    Work(Napi::Env env, const char *name, Fn fn, Done done, Finally fin)
        : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)),
          fn_(std::move(fn)), done_(std::move(done)), fin_(std::move(fin)) {}
    Napi::Promise::Deferred deferred_;
    Fn fn_;
    Done done_;
    Finally fin_;
    Napi::ObjectReference keep_;
    int rc_ = 0;
    std::string msg_;
};

// ------------------------------------------------------------------------------------------
// Options: open(path, options) gets one object that lib/index.js has already validated and
// normalised ({ create, readOnly, sync: number, lockTimeoutMs, ... }); absent fields keep the
// engine's defaults. Ranges the C types cannot hold are checked here, the rest by the core.
// ------------------------------------------------------------------------------------------
class OptionReader {
  public:
    // `keep` owns the text of string options (a `const char *` of the options struct points
    // into it): it must live as long as the struct is used, e.g. until an async open ran.
    OptionReader(const Napi::CallbackInfo &info, size_t i, std::list<std::string> &keep)
        : env_(info.Env()), keep_(keep) {
        if (i < info.Length() && !info[i].IsUndefined() && !info[i].IsNull()) {
            if (!info[i].IsObject()) Throw(env_, CAIRN_TYPE, "options must be an object");
            obj_ = info[i].As<Napi::Object>();
        }
    }

    int Bool(const char *name, int dflt) {
        Napi::Value v = Get(name);
        if (v.IsUndefined()) return dflt;
        if (!v.IsBoolean()) Throw(env_, CAIRN_TYPE, std::string("option '") + name + "' must be a boolean");
        return v.As<Napi::Boolean>().Value() ? 1 : 0;
    }

    // A non-negative integer up to `max` (NaN, negative, fractional or larger: CAIRN_INVALID).
    double UInt(const char *name, double dflt, double max) {
        Napi::Value v = Get(name);
        if (v.IsUndefined()) return dflt;
        if (!v.IsNumber()) Throw(env_, CAIRN_TYPE, std::string("option '") + name + "' must be a number");
        double d = v.As<Napi::Number>().DoubleValue();
        if (!std::isfinite(d) || d < 0 || d > max || std::floor(d) != d)
            Throw(env_, CAIRN_INVALID, std::string("option '") + name + "' must be an integer in 0.." +
                                           std::to_string(static_cast<uint64_t>(max)));
        return d;
    }

    // A string without NUL bytes, or `dflt` when absent; the text lives in `keep`.
    const char *String(const char *name, const char *dflt) {
        Napi::Value v = Get(name);
        if (v.IsUndefined()) return dflt;
        if (!v.IsString()) Throw(env_, CAIRN_TYPE, std::string("option '") + name + "' must be a string");
        keep_.push_back(v.As<Napi::String>().Utf8Value());
        if (keep_.back().find('\0') != std::string::npos)
            Throw(env_, CAIRN_INVALID, std::string("option '") + name + "' contains a NUL byte");
        return keep_.back().c_str();
    }

  private:
    Napi::Value Get(const char *name) { return obj_.IsEmpty() ? env_.Undefined() : obj_.Get(name); }
    Napi::Env env_;
    Napi::Object obj_;
    std::list<std::string> &keep_;
};

constexpr double kMaxSafeInteger = 9007199254740991.0;

// The options every engine shares (same field names in every cairn_<engine>_options).
template <typename O>
void CommonOptions(OptionReader &r, O &o) {
    o.create = r.Bool("create", o.create);
    o.read_only = r.Bool("readOnly", o.read_only);
    o.sync = static_cast<int>(r.UInt("sync", o.sync, CAIRN_SYNC_GROUP));
    o.lock_timeout_ms = static_cast<unsigned>(r.UInt("lockTimeoutMs", o.lock_timeout_ms, 4294967295.0));
}

// Stats: an engine names the fields of its stats struct in one string ("keys data_files ...
// in_txn?": a trailing '?' makes a boolean); their offsets and sizes come from the library itself
// (cairn_layout), their JS names are the camelCase of the C names. A field the library did not
// fill (the struct's `size` says how far it wrote) is left out.
struct StatsField {
    std::string js;
    size_t offset, size;
    bool flag;
};

std::vector<StatsField> StatsLayout(Napi::Env env, const char *type, const char *fields) {
    std::vector<StatsField> out;
    std::string all(fields);
    size_t i = 0;
    while (i < all.size()) {
        size_t j = all.find(' ', i);
        if (j == std::string::npos) j = all.size();
        std::string c = all.substr(i, j - i);
        i = j + 1;
        if (c.empty()) continue;
        StatsField f{"", 0, 0, c.back() == '?'};
        if (f.flag) c.pop_back();
        if (cairn_layout(type, c.c_str(), &f.offset, &f.size) != 0 || (f.size != 4 && f.size != 8))
            Throw(env, CAIRN_INTERNAL, std::string("cairn_layout does not know ") + type + "." + c);
        for (size_t k = 0; k < c.size(); k++) {
            if (c[k] == '_' && k + 1 < c.size()) f.js += static_cast<char>(std::toupper(c[++k]));
            else f.js += c[k];
        }
        out.push_back(f);
    }
    return out;
}

Napi::Object StatsOut(Napi::Env env, const std::vector<StatsField> &layout, const void *s, uint32_t filled) {
    Napi::Object o = Napi::Object::New(env);
    for (const StatsField &f : layout) {
        if (f.offset + f.size > filled) continue;
        uint64_t v = 0;
        if (f.size == 8) {
            std::memcpy(&v, static_cast<const char *>(s) + f.offset, 8);
        } else {
            uint32_t v32 = 0;
            std::memcpy(&v32, static_cast<const char *>(s) + f.offset, 4);
            v = v32;
        }
        if (f.flag) o.Set(f.js, Napi::Boolean::New(env, v != 0));
        else o.Set(f.js, Napi::Number::New(env, static_cast<double>(v)));
    }
    return o;
}

// Drains a C key cursor into an Array: next(it, &value) returns a Cairn code.
template <typename It, typename Next>
Napi::Array Drain(Napi::Env env, It *it, void (*freeIt)(It *), Next next) {
    std::unique_ptr<It, void (*)(It *)> guard(it, freeIt);
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    for (;;) {
        Napi::Value v;
        int rc = next(it, v);
        if (rc == CAIRN_ITEROVER) break;
        Check(env, rc);
        out.Set(i++, v);
    }
    return out;
}

// Wall clock of relative expiry (ttl): the core's test clock when the binding set one.
std::atomic<int64_t> g_testClockMs{0};

int64_t NowMs() {
    int64_t fake = g_testClockMs.load(std::memory_order_relaxed);
    if (fake > 0) return fake;
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ------------------------------------------------------------------------------------------
// Store<Engine>: what every engine's handle class shares. An engine class derives from it and
// declares its C API and the names of its stats fields in a table (Engine::kApi), its own
// options if any (EngineOptions) and its methods (Methods()); everything else is here:
//  - the handle's lifetime: open / openAsync (static), close, the `closed` accessor, the GC
//    finalizer, close() while async work runs (the C handle closes when the last piece ends);
//  - the closed check (CAIRN_CLOSED) of every call; CAIRN_FORKED and every other failure come
//    from the core and are thrown through the error factory (.code, .errno);
//  - check / checkAsync (static), begin / commit / rollback, sync / compact (+Async), count,
//    stats.
// ------------------------------------------------------------------------------------------
// An engine's snapshot calls; all null while the engine has none (its handle then has no
// snapshot methods).
template <typename H>
struct SnapshotApi {
    int (*snapshot)(H *, const char *, char **);
    int (*list)(H *, char **);
    int (*open)(H **, H *, const char *);
    int (*drop)(H *, const char *);
    int (*backup)(H *, const char *);
};

// Every field but the names, the open/close calls and the stats may be null: the handle then has
// no such method (the versioned store has no transactions, no sync and no compaction).
template <typename H, typename O, typename S>
struct EngineApi {
    const char *name;         // "kv": async resource names cairn.kv.open, ...
    const char *className;    // "KVHandle"
    const char *closedMsg;    // "KV handle is closed"
    const char *internalMsg;  // what `new KVHandle()` from JS says
    O defaults;
    int (*open)(H **, const char *, const O *);
    void (*close)(H *);
    int (*check)(const char *);
    int (*begin)(H *);
    int (*commit)(H *);
    int (*rollback)(H *);
    int (*sync)(H *);
    int (*compact)(H *);
    int (*count)(H *, uint64_t *);
    int (*stats)(H *, S *);
    const char *statsType;    // "cairn_kv_stats", as cairn_layout() names it
    const char *statsFields;  // "keys data_files ... in_txn?" (see StatsLayout)
    // Snapshots and backups (the five calls every engine's header declares; docs/snapshots.md).
    SnapshotApi<H> snapshots;
    int (*inTxn)(H *);  // cairn_<engine>_in_txn: 1 inside a transaction, 0 outside
    int (*metrics)(H *, char **);  // cairn_<engine>_metrics: the Prometheus text (cairn_free)
};

template <typename Engine, typename H, typename O, typename S>
class Store : public Napi::ObjectWrap<Engine> {
  public:
    using Base = Store;
    using Wrap = Napi::ObjectWrap<Engine>;

    static Napi::Function Define(Napi::Env env) {
        using C = typename Wrap::InstanceMethodCallback;
        const EngineApi<H, O, S> &a = Api();
        std::vector<typename Wrap::PropertyDescriptor> props = {
            Wrap::StaticMethod("open", &Store::Open),
            Wrap::StaticMethod("openAsync", &Store::OpenAsync),
            Wrap::InstanceMethod("stats", static_cast<C>(&Store::Stats)),
            Wrap::InstanceMethod("close", static_cast<C>(&Store::Close)),
            Wrap::InstanceAccessor("closed", static_cast<typename Wrap::InstanceGetterCallback>(&Store::Closed),
                                   nullptr),
        };
        auto add = [&](bool has, const char *name, C fn) {
            if (has) props.push_back(Wrap::InstanceMethod(name, fn));
        };
        if (a.check) {
            props.push_back(Wrap::StaticMethod("check", &Store::CheckPath));
            props.push_back(Wrap::StaticMethod("checkAsync", &Store::CheckPathAsync));
        }
        add(a.begin, "begin", static_cast<C>(&Store::Begin));
        add(a.commit, "commit", static_cast<C>(&Store::Commit));
        add(a.rollback, "rollback", static_cast<C>(&Store::Rollback));
        add(a.inTxn, "inTxn", static_cast<C>(&Store::InTxn));
        add(a.metrics, "metrics", static_cast<C>(&Store::Metrics));
        add(a.sync, "sync", static_cast<C>(&Store::Sync));
        add(a.sync, "syncAsync", static_cast<C>(&Store::SyncAsync));
        add(a.compact, "compact", static_cast<C>(&Store::Compact));
        add(a.compact, "compactAsync", static_cast<C>(&Store::CompactAsync));
        add(a.count, "count", static_cast<C>(&Store::Count));
        add(a.snapshots.snapshot, "snapshot", static_cast<C>(&Store::Snapshot));
        add(a.snapshots.list, "snapshots", static_cast<C>(&Store::Snapshots));
        add(a.snapshots.open, "openSnapshot", static_cast<C>(&Store::OpenSnapshot));
        add(a.snapshots.drop, "dropSnapshot", static_cast<C>(&Store::DropSnapshot));
        add(a.snapshots.backup, "backup", static_cast<C>(&Store::Backup));
        add(a.snapshots.backup, "backupAsync", static_cast<C>(&Store::BackupAsync));
        for (auto &p : Engine::Methods()) props.push_back(p);
        Napi::Function ctor = Wrap::DefineClass(env, Api().className, props);
        Data(env)->ctors[Api().className] = Napi::Persistent(ctor);
        return ctor;
    }

    explicit Store(const Napi::CallbackInfo &info) : Wrap(info) {
        if (info.Length() != 1 || !info[0].IsExternal()) Throw(info.Env(), CAIRN_INVALID, Api().internalMsg);
        h_ = info[0].As<Napi::External<H>>().Data();
    }
    // The engine part is gone here, so no BeforeClose(): an engine that has one closes in its own
    // destructor (CloseIfIdle()), as Table does.
    ~Store() override {
        if (busy_ == 0) Release(false);
    }

  protected:
    static const EngineApi<H, O, S> &Api() { return Engine::kApi; }

    // The engine's own methods, by their JS names.
    static std::vector<typename Wrap::PropertyDescriptor> MethodTable(
        std::initializer_list<std::pair<const char *, typename Wrap::InstanceMethodCallback>> methods) {
        std::vector<typename Wrap::PropertyDescriptor> out;
        for (const auto &m : methods) out.push_back(Wrap::InstanceMethod(m.first, m.second));
        return out;
    }

    bool IsClosed() const { return closed_; }

    // The open C handle, or CAIRN_CLOSED.
    H *Handle(Napi::Env env) {
        if (closed_) Throw(env, CAIRN_CLOSED, Api().closedMsg);
        return h_;
    }

    // The GC backstop of the destructor. Work in flight holds a reference to this object, so
    // busy_ is 0 here except at environment teardown, where the C handle must outlive the work.
    // An engine whose C handle calls back into members of the engine class (blob events) calls
    // it from its own destructor too, before those members go.
    void CloseIfIdle() {
        if (busy_ == 0) Release();
    }

    Napi::Value Call(const Napi::CallbackInfo &info, int (*fn)(H *)) {
        Check(info.Env(), fn(Handle(info.Env())));
        return info.Env().Undefined();
    }

    // fn on the thread pool; the handle stays open (busy_) until it ends.
    Napi::Value CallAsync(const Napi::CallbackInfo &info, const char *verb, int (*fn)(H *)) {
        return RunAsync(info, verb, [fn](H *h) { return fn(h); }, nullptr);
    }

    // fn(handle) on the thread pool (it owns copies of its arguments); done(env) builds the
    // result on the main thread. The handle stays open (busy_) until it ends.
    Napi::Value RunAsync(const Napi::CallbackInfo &info, const char *verb, std::function<int(H *)> fn,
                         Work::Done done) {
        H *h = Handle(info.Env());
        busy_++;
        return Work::Run(
            info.Env(), Name(verb).c_str(), [h, fn]() { return fn(h); }, std::move(done),
            [this]() {
                if (--busy_ == 0 && closed_) Release();
            },
            this->Value());
    }

    // A name argument: a string without NUL bytes (CAIRN_TYPE / CAIRN_INVALID otherwise).
    static std::string NameArg(const Napi::CallbackInfo &info, size_t i, const char *what) {
        if (i >= info.Length() || !info[i].IsString()) Throw(info.Env(), CAIRN_TYPE, std::string(what) + " must be a string");
        std::string s = info[i].As<Napi::String>().Utf8Value();
        if (s.find('\0') != std::string::npos) Throw(info.Env(), CAIRN_INVALID, std::string(what) + " contains a NUL byte");
        return s;
    }

    // Default: no options of the engine's own (an engine declares its own EngineOptions).
    static void EngineOptions(OptionReader &, O &) {}

    // Called once, just before the C handle closes (an engine that holds C objects tied to the
    // handle, such as cursors, frees them here; it declares `friend Base` and calls CloseIfIdle()
    // from its own destructor, since the base's destructor cannot reach it any more).
    void BeforeClose() {}

  private:
    void Release(bool hook = true) {
        if (h_ != nullptr) {
            if (hook) static_cast<Engine *>(this)->BeforeClose();
            Api().close(h_);
        }
        h_ = nullptr;
    }

    static std::string Name(const char *verb) { return std::string("cairn.") + Api().name + "." + verb; }

    // The options struct and the strings its pointers point at, kept together (never copied:
    // shared by the async work that uses them).
    struct OpenOptions {
        O o;
        std::list<std::string> keep;
    };

    static std::shared_ptr<OpenOptions> Options(const Napi::CallbackInfo &info, size_t i) {
        auto oo = std::make_shared<OpenOptions>();
        oo->o = Api().defaults;
        OptionReader r(info, i, oo->keep);
        CommonOptions(r, oo->o);
        Engine::EngineOptions(r, oo->o);
        return oo;
    }

    static Napi::Object New(Napi::Env env, H *h) {
        return Data(env)->ctors[Api().className].New({Napi::External<H>::New(env, h)});
    }

    static Napi::Value Open(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        auto oo = Options(info, 1);
        H *h = nullptr;
        Check(info.Env(), Api().open(&h, path.c_str(), &oo->o));
        return New(info.Env(), h);
    }

    static Napi::Value OpenAsync(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        auto oo = Options(info, 1);
        struct Owned {  // closed unless a wrapper took it (e.g. if wrapping throws)
            H *p = nullptr;
            ~Owned() {
                if (p != nullptr) Api().close(p);
            }
        };
        auto out = std::make_shared<Owned>();
        return Work::Run(
            info.Env(), Name("open").c_str(), [path, oo, out]() { return Api().open(&out->p, path.c_str(), &oo->o); },
            [out](Napi::Env env) -> Napi::Value {
                Napi::Object w = New(env, out->p);
                out->p = nullptr;  // the wrapper owns it now
                return w;
            });
    }

    static Napi::Value CheckPath(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        Check(info.Env(), Api().check(path.c_str()));
        return info.Env().Undefined();
    }

    static Napi::Value CheckPathAsync(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        return Work::Run(info.Env(), Name("check").c_str(), [path]() { return Api().check(path.c_str()); },
                         nullptr);
    }

    Napi::Value Begin(const Napi::CallbackInfo &info) { return Call(info, Api().begin); }
    Napi::Value Commit(const Napi::CallbackInfo &info) { return Call(info, Api().commit); }
    Napi::Value Rollback(const Napi::CallbackInfo &info) { return Call(info, Api().rollback); }
    Napi::Value Sync(const Napi::CallbackInfo &info) { return Call(info, Api().sync); }
    Napi::Value InTxn(const Napi::CallbackInfo &info) {
        int rc = Api().inTxn(Handle(info.Env()));
        Check(info.Env(), rc);
        return Napi::Boolean::New(info.Env(), rc == 1);
    }
    // metrics() -> the Prometheus text exposition of the engine's statistics
    Napi::Value Metrics(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        char *out = nullptr;
        int rc = Api().metrics(Handle(env), &out);
        std::unique_ptr<char, void (*)(void *)> guard(out, cairn_free);
        Check(env, rc);
        return Napi::String::New(env, out != nullptr ? out : "");
    }
    Napi::Value Compact(const Napi::CallbackInfo &info) { return Call(info, Api().compact); }
    Napi::Value SyncAsync(const Napi::CallbackInfo &info) { return CallAsync(info, "sync", Api().sync); }
    Napi::Value CompactAsync(const Napi::CallbackInfo &info) { return CallAsync(info, "compact", Api().compact); }

    Napi::Value Count(const Napi::CallbackInfo &info) {
        uint64_t n = 0;
        Check(info.Env(), Api().count(Handle(info.Env()), &n));
        return Napi::Number::New(info.Env(), static_cast<double>(n));
    }

    Napi::Value Stats(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        S s;
        std::memset(&s, 0, sizeof s);
        s.size = sizeof s;  // every stats struct starts with its size
        Check(env, Api().stats(Handle(env), &s));
        static const std::vector<StatsField> layout = StatsLayout(env, Api().statsType, Api().statsFields);
        return StatsOut(env, layout, &s, s.size);
    }

    Napi::Value Close(const Napi::CallbackInfo &info) {
        if (!closed_) {
            closed_ = true;
            if (busy_ == 0) Release();
        }
        return info.Env().Undefined();
    }

    Napi::Value Closed(const Napi::CallbackInfo &info) { return Napi::Boolean::New(info.Env(), closed_); }

    // snapshot(name?) -> the snapshot's name (a unique one when name is undefined or null)
    Napi::Value Snapshot(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        H *h = Handle(env);
        bool named = info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull();
        std::string name = named ? NameArg(info, 0, "snapshot name") : std::string();
        char *out = nullptr;
        Check(env, Api().snapshots.snapshot(h, named ? name.c_str() : nullptr, &out));
        std::unique_ptr<char, void (*)(void *)> guard(out, cairn_free);
        return Napi::String::New(env, out != nullptr ? out : name.c_str());
    }

    // snapshots() -> the JSON array of {name, time, bytes} (lib/index.js makes the objects)
    Napi::Value Snapshots(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        char *out = nullptr;
        Check(env, Api().snapshots.list(Handle(env), &out));
        std::unique_ptr<char, void (*)(void *)> guard(out, cairn_free);
        return Napi::String::New(env, out != nullptr ? out : "[]");
    }

    // openSnapshot(name) -> a new read-only handle of this engine, independent of this one
    Napi::Value OpenSnapshot(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        H *h = Handle(env);
        std::string name = NameArg(info, 0, "snapshot name");
        H *snap = nullptr;
        Check(env, Api().snapshots.open(&snap, h, name.c_str()));
        struct Owned {  // closed if wrapping throws
            H *p;
            ~Owned() {
                if (p != nullptr) Api().close(p);
            }
        } owned{snap};
        Napi::Object w = New(env, snap);
        owned.p = nullptr;
        return w;
    }

    Napi::Value DropSnapshot(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        H *h = Handle(env);
        std::string name = NameArg(info, 0, "snapshot name");
        Check(env, Api().snapshots.drop(h, name.c_str()));
        return env.Undefined();
    }

    Napi::Value Backup(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        H *h = Handle(env);
        std::string dest = PathArg(info, 0);
        Check(env, Api().snapshots.backup(h, dest.c_str()));
        return env.Undefined();
    }

    Napi::Value BackupAsync(const Napi::CallbackInfo &info) {
        std::string dest = PathArg(info, 0);
        auto backup = Api().snapshots.backup;
        return RunAsync(info, "backup", [dest, backup](H *h) { return backup(h, dest.c_str()); }, nullptr);
    }

    H *h_ = nullptr;
    bool closed_ = false;
    int busy_ = 0;
};

// ------------------------------------------------------------------------------------------
// KV handle
// ------------------------------------------------------------------------------------------
class KV : public Store<KV, cairn_kv, cairn_kv_options, struct cairn_kv_stats> {
  public:
    static constexpr EngineApi<cairn_kv, cairn_kv_options, struct cairn_kv_stats> kApi = {
        "kv", "KVHandle", "KV handle is closed", "KVHandle is internal: use new cairn.KV(path) or cairn.open(path)",
        CAIRN_KV_OPTIONS_INIT, cairn_kv_open, cairn_kv_close, cairn_kv_check, cairn_kv_begin, cairn_kv_commit,
        cairn_kv_rollback, cairn_kv_sync, cairn_kv_compact, cairn_kv_count, cairn_kv_stats, "cairn_kv_stats",
        "keys data_files disk_bytes live_bytes dead_bytes keydir_bytes seq compactions in_txn?",
        {cairn_kv_snapshot, cairn_kv_snapshots, cairn_kv_open_snapshot, cairn_kv_drop_snapshot, cairn_kv_backup},
        cairn_kv_in_txn,
        cairn_kv_metrics,
    };

    static std::vector<PropertyDescriptor> Methods() {
        return MethodTable({{"put", &KV::Put}, {"get", &KV::Get}, {"delete", &KV::Delete}, {"exists", &KV::Exists},
                            {"update", &KV::Update}, {"keys", &KV::Keys}, {"expiry", &KV::Expiry}});
    }

    static void EngineOptions(OptionReader &r, cairn_kv_options &o) {
        o.max_file_size = static_cast<uint64_t>(r.UInt("maxFileSize", 0, kMaxSafeInteger));
    }

    using Base::Base;

  private:
    // The open handle and the key (argument 0) of a call.
    cairn_kv *KeyCall(const Napi::CallbackInfo &info, Bytes &key) {
        cairn_kv *kv = Handle(info.Env());
        GetBytes(info, 0, key, "key");
        return kv;
    }

    // put(key, value, kind?, expireAtMs?, ttlMs?): kind defaults to TEXT for a string, BYTES
    // otherwise; ttlMs counts from now (the test clock when one is set).
    Napi::Value Put(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        Bytes k, v;
        cairn_kv *kv = KeyCall(info, k);
        GetBytes(info, 1, v, "value");
        int kind;
        if (info.Length() > 2 && !info[2].IsUndefined()) {
            kind = static_cast<int>(UIntArg(info, 2, 0, CAIRN_KIND_NATIVE, "kind"));
        } else {
            kind = info[1].IsString() ? CAIRN_KIND_TEXT : CAIRN_KIND_BYTES;
        }
        int64_t exp = static_cast<int64_t>(UIntArg(info, 3, 0, kMaxSafeInteger, "expireAt"));
        if (info.Length() > 4 && !info[4].IsUndefined()) {
            // ttl 0 expires at once: an expiry of now is already past.
            exp = std::max<int64_t>(1, NowMs() + static_cast<int64_t>(UIntArg(info, 4, 0, kMaxSafeInteger, "ttl")));
        }
        int rc = exp != 0 ? cairn_kv_put_ex(kv, k.data(), k.size(), v.data(), v.size(), kind, exp)
                          : cairn_kv_put(kv, k.data(), k.size(), v.data(), v.size(), kind);
        Check(env, rc);
        return env.Undefined();
    }

    // get(key) -> undefined (absent) | string (TEXT, or JSON text: meta[0] says which) |
    // number n (BYTES/NATIVE copied into the scratch buffer, n bytes) | Buffer (too big for it).
    // lib/index.js turns this into the value; meta[0] is always set to the kind.
    Napi::Value Get(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        Bytes k;
        cairn_kv *kv = KeyCall(info, k);
        AddonData *d = Data(env);
        char stackBuf[kSmallValue];
        char *buf = d->scratch != nullptr ? d->scratch : stackBuf;
        size_t cap = d->scratch != nullptr ? d->scratchLen : sizeof stackBuf;
        size_t n = 0;
        int kind = 0;
        // Small values (the common case) are read without a malloc.
        int rc = cairn_kv_get_into(kv, k.data(), k.size(), buf, cap, &n, &kind);
        if (rc == 0) {
            if (d->meta != nullptr) d->meta[0] = kind;
            if (kind == CAIRN_KIND_TEXT || kind == CAIRN_KIND_JSON) return Napi::String::New(env, buf, n);
            if (buf == d->scratch) return Napi::Number::New(env, static_cast<double>(n));
            return Napi::Buffer<char>::Copy(env, buf, n);
        }
        if (rc == CAIRN_NOTFOUND) return env.Undefined();
        if (rc != CAIRN_RANGE) Check(env, rc);
        void *p = nullptr;
        rc = cairn_kv_get(kv, k.data(), k.size(), &p, &n, &kind);
        if (rc == CAIRN_NOTFOUND) return env.Undefined();
        Check(env, rc);
        if (d->meta != nullptr) d->meta[0] = kind;
        char *c = static_cast<char *>(p);
        if (kind == CAIRN_KIND_BYTES || kind == CAIRN_KIND_NATIVE) return BufferOut(env, c, n);
        std::unique_ptr<char, void (*)(void *)> guard(c, cairn_free);
        return Napi::String::New(env, c, n);
    }

    Napi::Value Delete(const Napi::CallbackInfo &info) {
        Bytes k;
        cairn_kv *kv = KeyCall(info, k);
        int rc = cairn_kv_delete(kv, k.data(), k.size());
        if (rc == CAIRN_NOTFOUND) Throw(info.Env(), rc, "key not found");
        Check(info.Env(), rc);
        return info.Env().Undefined();
    }

    Napi::Value Exists(const Napi::CallbackInfo &info) {
        Bytes k;
        cairn_kv *kv = KeyCall(info, k);
        int rc = cairn_kv_exists(kv, k.data(), k.size());
        Check(info.Env(), rc);
        return Napi::Boolean::New(info.Env(), rc == 1);
    }

    // update(key, changesJson): the core merges the fields (cairn_kv_update_json).
    Napi::Value Update(const Napi::CallbackInfo &info) {
        Bytes k, changes;
        cairn_kv *kv = KeyCall(info, k);
        GetBytes(info, 1, changes, "changes");
        int rc = cairn_kv_update_json(kv, k.data(), k.size(), changes.data(), changes.size());
        if (rc == CAIRN_NOTFOUND) Throw(info.Env(), rc, "key not found");
        Check(info.Env(), rc);
        return info.Env().Undefined();
    }

    // keys(prefix?): an Array snapshot, ascending bytewise.
    Napi::Value Keys(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_kv *kv = Handle(env);
        Bytes pre;
        bool hasPrefix = info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull();
        if (hasPrefix) GetBytes(info, 0, pre, "prefix");
        cairn_kv_iter *it = nullptr;
        Check(env, cairn_kv_iter_open(&it, kv, hasPrefix ? pre.data() : "", hasPrefix ? pre.size() : 0));
        return Drain(env, it, cairn_kv_iter_free, [env](cairn_kv_iter *i, Napi::Value &out) {
            const void *key = nullptr;
            size_t klen = 0;
            int rc = cairn_kv_iter_next(i, &key, &klen);
            if (rc == 0) out = KeyOut(env, key, klen);
            return rc;
        });
    }

    // expiry(key): Unix ms (0: never), undefined if absent.
    Napi::Value Expiry(const Napi::CallbackInfo &info) {
        Bytes k;
        cairn_kv *kv = KeyCall(info, k);
        int64_t at = 0;
        int rc = cairn_kv_expiry(kv, k.data(), k.size(), &at);
        if (rc == CAIRN_NOTFOUND) return info.Env().Undefined();
        Check(info.Env(), rc);
        return Napi::Number::New(info.Env(), static_cast<double>(at));
    }
};

// ------------------------------------------------------------------------------------------
// Blob store handle
// ------------------------------------------------------------------------------------------
// Events are queued by the C callback (it may run on a pool thread during async work) and
// drained by lib/index.js after each call returns, which emits them on the EventEmitter.
struct EventQueue {
    struct Ev {
        int event;
        uint32_t key;
        uint64_t oldSize, newSize;
    };
    std::mutex mu;
    std::vector<Ev> q;
    static void Push(void *ctx, int event, uint32_t key, uint64_t oldSize, uint64_t newSize) {
        EventQueue *self = static_cast<EventQueue *>(ctx);
        std::lock_guard<std::mutex> lock(self->mu);
        self->q.push_back(Ev{event, key, oldSize, newSize});
    }
};

class Blob : public Store<Blob, cairn_blob, cairn_blob_options, struct cairn_blob_stats> {
  public:
    static constexpr EngineApi<cairn_blob, cairn_blob_options, struct cairn_blob_stats> kApi = {
        "blob", "BlobHandle", "blob store handle is closed", "BlobHandle is internal: use new cairn.BlobStore(path)",
        CAIRN_BLOB_OPTIONS_INIT, cairn_blob_open, cairn_blob_close, cairn_blob_check, cairn_blob_begin,
        cairn_blob_commit, cairn_blob_rollback, cairn_blob_sync, cairn_blob_compact, cairn_blob_count,
        cairn_blob_stats, "cairn_blob_stats",
        "entries live_bytes free_bytes free_entries file_size wal_bytes next_key in_txn?",
        {cairn_blob_snapshot, cairn_blob_snapshots, cairn_blob_open_snapshot, cairn_blob_drop_snapshot, cairn_blob_backup},
        cairn_blob_in_txn,
        cairn_blob_metrics,
    };

    static std::vector<PropertyDescriptor> Methods() {
        return MethodTable({{"create", &Blob::Create}, {"createWithKey", &Blob::CreateWithKey},
                            {"reserveNextKey", &Blob::ReserveNextKey}, {"read", &Blob::Read},
                            {"update", &Blob::Update}, {"delete", &Blob::Delete}, {"exists", &Blob::Exists},
                            {"keys", &Blob::Keys}, {"subscribe", &Blob::Subscribe}, {"takeEvents", &Blob::TakeEvents}});
    }

    using Base::Base;
    ~Blob() override { CloseIfIdle(); }  // before events_ goes: the C handle points at it

  private:
    // Runs a call whose NOTFOUND names the blob.
    void CheckKey(Napi::Env env, int rc, uint32_t key) {
        if (rc == CAIRN_NOTFOUND) Throw(env, rc, "blob " + std::to_string(key) + " not found");
        Check(env, rc);
    }

    Napi::Value Create(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_blob *b = Handle(env);
        Bytes d;
        GetBytes(info, 0, d, "data");
        uint32_t key = 0;
        Check(env, cairn_blob_create(b, d.data(), d.size(), &key));
        return Napi::Number::New(env, key);
    }

    Napi::Value CreateWithKey(const Napi::CallbackInfo &info) {
        cairn_blob *b = Handle(info.Env());
        uint32_t key = BlobKeyArg(info, 0);
        Bytes d;
        GetBytes(info, 1, d, "data");
        Check(info.Env(), cairn_blob_create_with_key(b, key, d.data(), d.size()));
        return info.Env().Undefined();
    }

    Napi::Value ReserveNextKey(const Napi::CallbackInfo &info) {
        uint32_t key = 0;
        Check(info.Env(), cairn_blob_reserve_next_key(Handle(info.Env()), &key));
        return Napi::Number::New(info.Env(), key);
    }

    Napi::Value Read(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_blob *b = Handle(env);
        uint32_t key = BlobKeyArg(info, 0);
        void *p = nullptr;
        size_t n = 0;
        CheckKey(env, cairn_blob_read(b, key, &p, &n), key);
        // As KV get: a number means "n bytes in the scratch buffer".
        AddonData *d = Data(env);
        if (d->scratch != nullptr && n <= d->scratchLen) {
            std::memcpy(d->scratch, p, n);
            cairn_free(p);
            return Napi::Number::New(env, static_cast<double>(n));
        }
        return BufferOut(env, static_cast<char *>(p), n);
    }

    Napi::Value Update(const Napi::CallbackInfo &info) {
        cairn_blob *b = Handle(info.Env());
        uint32_t key = BlobKeyArg(info, 0);
        Bytes d;
        GetBytes(info, 1, d, "data");
        CheckKey(info.Env(), cairn_blob_update(b, key, d.data(), d.size()), key);
        return info.Env().Undefined();
    }

    Napi::Value Delete(const Napi::CallbackInfo &info) {
        cairn_blob *b = Handle(info.Env());
        uint32_t key = BlobKeyArg(info, 0);
        CheckKey(info.Env(), cairn_blob_delete(b, key), key);
        return info.Env().Undefined();
    }

    Napi::Value Exists(const Napi::CallbackInfo &info) {
        cairn_blob *b = Handle(info.Env());
        int rc = cairn_blob_exists(b, BlobKeyArg(info, 0));
        Check(info.Env(), rc);
        return Napi::Boolean::New(info.Env(), rc == 1);
    }

    Napi::Value Keys(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_blob_iter *it = nullptr;
        Check(env, cairn_blob_iter_open(&it, Handle(env)));
        return Drain(env, it, cairn_blob_iter_free, [env](cairn_blob_iter *i, Napi::Value &out) {
            uint32_t key = 0;
            int rc = cairn_blob_iter_next(i, &key);
            if (rc == 0) out = Napi::Number::New(env, key);
            return rc;
        });
    }

    Napi::Value Subscribe(const Napi::CallbackInfo &info) {
        cairn_blob *b = Handle(info.Env());
        if (!subscribed_) {
            Check(info.Env(), cairn_blob_subscribe(b, EventQueue::Push, &events_, &subId_));
            subscribed_ = true;
        }
        return info.Env().Undefined();
    }

    // Flat [event, key, oldSize, newSize, ...] of the events queued since the last call, or
    // undefined when there are none (the common case, kept allocation-free).
    Napi::Value TakeEvents(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        std::vector<EventQueue::Ev> evs;
        {
            std::lock_guard<std::mutex> lock(events_.mu);
            if (events_.q.empty()) return env.Undefined();
            evs.swap(events_.q);
        }
        Napi::Array out = Napi::Array::New(env, evs.size() * 4);
        uint32_t i = 0;
        for (const auto &e : evs) {
            out.Set(i++, Napi::Number::New(env, e.event));
            out.Set(i++, Napi::Number::New(env, e.key));
            out.Set(i++, Napi::Number::New(env, static_cast<double>(e.oldSize)));
            out.Set(i++, Napi::Number::New(env, static_cast<double>(e.newSize)));
        }
        return out;
    }

    bool subscribed_ = false;
    uint64_t subId_ = 0;
    EventQueue events_;
};

// The open C cursors of a handle, by the number JS holds (iterOpen -> n; iterNext(n, max) -> a
// batch; iterClose(n)). An engine with cursors keeps one Cursors and frees them all in
// BeforeClose(): a cursor must not outlive its handle.
template <typename It, void (*FreeIt)(It *)>
class Cursors {
  public:
    uint32_t Add(It *it) {
        uint32_t n = ++next_;
        map_[n] = it;
        return n;
    }
    void Free(uint32_t n) {
        auto f = map_.find(n);
        if (f != map_.end()) {
            FreeIt(f->second);
            map_.erase(f);
        }
    }
    void FreeAll() {
        for (auto &e : map_) FreeIt(e.second);
        map_.clear();
    }
    // Up to max items of cursor n into a flat Array: step(it, out, j) reads one item (a Cairn code:
    // 0 for an item, which it appends at out[j++]; ITEROVER at the end). The cursor is freed at its
    // end and on an error (thrown); an unknown n (over, or closed) gives an empty Array.
    template <typename Step>
    Napi::Array Next(Napi::Env env, uint32_t n, uint32_t max, Step step) {
        Napi::Array out = Napi::Array::New(env);
        auto f = map_.find(n);
        if (f == map_.end()) return out;
        uint32_t j = 0;
        for (uint32_t i = 0; i < max; i++) {
            int rc = step(f->second, out, j);
            if (rc == CAIRN_ITEROVER) {
                Free(n);
                break;
            }
            if (rc < 0) {
                std::string msg = LastMessage(rc);
                Free(n);
                Throw(env, rc, msg);
            }
        }
        return out;
    }
    // iterNext's (n, max) and iterClose's n.
    static uint32_t CursorArg(const Napi::CallbackInfo &info) {
        return static_cast<uint32_t>(UIntArg(info, 0, 0, 4294967295.0, "cursor"));
    }
    static uint32_t MaxArg(const Napi::CallbackInfo &info) {
        return static_cast<uint32_t>(UIntArg(info, 1, 256, 1 << 20, "max"));
    }

  private:
    std::map<uint32_t, It *> map_;
    uint32_t next_ = 0;
};

// ------------------------------------------------------------------------------------------
// Table handle
// ------------------------------------------------------------------------------------------
// Rows cross this layer as the core's JSON rows (cairn/table.h): lib/index.js makes them from JS
// values and turns them back into JS values by column type, exactly (large integers included).

// A row id: a number that is a safe non-negative integer, or a BigInt in 0..2^64-1.
uint64_t IdArg(const Napi::CallbackInfo &info, size_t i) {
    Napi::Env env = info.Env();
    if (i < info.Length() && info[i].IsNumber()) {
        double d = info[i].As<Napi::Number>().DoubleValue();
        if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > kMaxSafeInteger)
            Throw(env, CAIRN_INVALID, "a row id must be a non-negative integer (a BigInt above 2^53-1)");
        return static_cast<uint64_t>(d);
    }
    if (i < info.Length() && info[i].IsBigInt()) {
        Napi::BigInt b = info[i].As<Napi::BigInt>();
        size_t n = b.WordCount();
        if (n > 1) Throw(env, CAIRN_INVALID, "a row id must be in 0..2^64-1");
        int sign = 0;
        uint64_t w = 0;
        b.ToWords(&sign, &n, &w);
        if (sign != 0 && w != 0) Throw(env, CAIRN_INVALID, "a row id must be in 0..2^64-1");
        return n == 0 ? 0 : w;
    }
    Throw(env, CAIRN_TYPE, "a row id must be a number or a BigInt");
}

// A number when it is a safe integer, else a BigInt.
Napi::Value IdOut(Napi::Env env, uint64_t id) {
    if (id <= static_cast<uint64_t>(kMaxSafeInteger)) return Napi::Number::New(env, static_cast<double>(id));
    return Napi::BigInt::New(env, id);
}

// A JSON text argument (lib/index.js always passes a string; NUL-terminated for the C API).
void JsonArg(const Napi::CallbackInfo &info, size_t i, Bytes &out, const char *what) {
    if (i >= info.Length() || !info[i].IsString()) Throw(info.Env(), CAIRN_TYPE, std::string(what) + " must be a string");
    GetBytes(info, i, out, what);
}

// Takes ownership of a cairn-allocated NUL-terminated string.
Napi::Value StringOut(Napi::Env env, char *p) {
    std::unique_ptr<char, void (*)(void *)> guard(p, cairn_free);
    return Napi::String::New(env, p != nullptr ? p : "");
}

// Table events are queued by the C callback (after a change committed, on the thread that made
// it) with copies of the JSON rows, and drained by lib/index.js after each call returns.
struct TableEventQueue {
    struct Ev {
        int event;
        uint64_t id;
        bool hasNew, hasOld;
        std::string newRow, oldRow;
    };
    std::mutex mu;
    std::vector<Ev> q;
    static void Push(void *ctx, int event, uint64_t id, const char *newRow, const char *oldRow) {
        TableEventQueue *self = static_cast<TableEventQueue *>(ctx);
        Ev e{event, id, newRow != nullptr, oldRow != nullptr, newRow ? newRow : "", oldRow ? oldRow : ""};
        std::lock_guard<std::mutex> lock(self->mu);
        self->q.push_back(std::move(e));
    }
};

class Table : public Store<Table, cairn_table, cairn_table_options, struct cairn_table_stats> {
  public:
    static constexpr EngineApi<cairn_table, cairn_table_options, struct cairn_table_stats> kApi = {
        "table", "TableHandle", "table handle is closed", "TableHandle is internal: use new cairn.Table(path, options)",
        CAIRN_TABLE_OPTIONS_INIT, cairn_table_open, cairn_table_close, cairn_table_check, cairn_table_begin,
        cairn_table_commit, cairn_table_rollback, cairn_table_sync, cairn_table_compact, cairn_table_count,
        cairn_table_stats, "cairn_table_stats",
        "rows deleted_rows next_id row_groups segments tail_rows disk_bytes wal_bytes checkpoints columns in_txn?",
        {cairn_table_snapshot, cairn_table_snapshots, cairn_table_open_snapshot, cairn_table_drop_snapshot,
         cairn_table_backup},
        cairn_table_in_txn,
        cairn_table_metrics,
    };

    static std::vector<PropertyDescriptor> Methods() {
        return MethodTable({{"insert", &Table::Insert}, {"insertMany", &Table::InsertMany},
                            {"upsert", &Table::Upsert}, {"get", &Table::Get}, {"exists", &Table::Exists},
                            {"update", &Table::Update}, {"delete", &Table::Delete}, {"load", &Table::Load},
                            {"loadTyped", &Table::LoadTyped},
                            {"schema", &Table::Schema}, {"columns", &Table::Columns},
                            {"addColumn", &Table::AddColumn},
                            {"iterOpen", &Table::IterOpen}, {"iterNext", &Table::IterNext},
                            {"iterClose", &Table::IterClose}, {"subscribe", &Table::Subscribe},
                            {"unsubscribe", &Table::Unsubscribe}, {"takeEvents", &Table::TakeEvents},
                            {"query", &Table::Query}, {"countWhere", &Table::CountWhere},
                            {"join", &Table::Join}, {"createIndex", &Table::CreateIndex},
                            {"dropIndex", &Table::DropIndex}, {"indexes", &Table::Indexes},
                            {"lookup", &Table::Lookup}, {"find", &Table::Find},
                            {"rangeFind", &Table::RangeFind}, {"exportIpc", &Table::ExportIpc},
                            {"exportColumn", &Table::ExportColumn}});
    }

    // schema (text or JSON array, made by lib/index.js) and checkpointRows.
    static void EngineOptions(OptionReader &r, cairn_table_options &o) {
        o.schema = r.String("schema", nullptr);
        o.checkpoint_rows = static_cast<uint32_t>(r.UInt("checkpointRows", 0, 4294967295.0));
    }

    using Base::Base;
    ~Table() override { CloseIfIdle(); }  // before events_ and iters_ go

  private:
    friend Base;

    // Cursors must not outlive the table: close() frees the ones still open.
    void BeforeClose() {
        iters_.FreeAll();
    }

    void CheckRow(Napi::Env env, int rc, uint64_t id) {
        if (rc == CAIRN_NOTFOUND) Throw(env, rc, "row " + std::to_string(id) + " not found");
        Check(env, rc);
    }

    // insert(rowJson) -> id
    Napi::Value Insert(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        Bytes row;
        JsonArg(info, 0, row, "row");
        uint64_t id = 0;
        Check(env, cairn_table_insert_json(t, row.data(), &id));
        return IdOut(env, id);
    }

    // insertMany(rowsJson) -> JSON array of the ids (text: ids may exceed 2^53)
    Napi::Value InsertMany(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        Bytes rows;
        JsonArg(info, 0, rows, "rows");
        char *ids = nullptr;
        Check(env, cairn_table_insert_many_json(t, rows.data(), &ids));
        return StringOut(env, ids);
    }

    Napi::Value Upsert(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        Bytes row;
        JsonArg(info, 0, row, "row");
        uint64_t id = 0;
        Check(env, cairn_table_upsert_json(t, row.data(), &id));
        return IdOut(env, id);
    }

    // get(id) -> JSON row text, or undefined when absent
    Napi::Value Get(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        uint64_t id = IdArg(info, 0);
        char *row = nullptr;
        int rc = cairn_table_get_json(t, id, &row);
        if (rc == CAIRN_NOTFOUND) return env.Undefined();
        Check(env, rc);
        return StringOut(env, row);
    }

    Napi::Value Exists(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        uint64_t id = IdArg(info, 0);
        cairn_value *row = nullptr;
        int rc = cairn_table_get(t, id, &row);
        if (rc == CAIRN_NOTFOUND) return Napi::Boolean::New(env, false);
        Check(env, rc);
        cairn_free(row);
        return Napi::Boolean::New(env, true);
    }

    Napi::Value Update(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        uint64_t id = IdArg(info, 0);
        Bytes changes;
        JsonArg(info, 1, changes, "changes");
        CheckRow(env, cairn_table_update_json(t, id, changes.data()), id);
        return env.Undefined();
    }

    Napi::Value Delete(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        uint64_t id = IdArg(info, 0);
        CheckRow(env, cairn_table_delete(t, id), id);
        return env.Undefined();
    }

    // load(columnsJson) -> the first new id
    Napi::Value Load(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        Bytes cols;
        JsonArg(info, 0, cols, "columns");
        uint64_t first = 0;
        Check(env, cairn_table_load_json(t, cols.data(), &first));
        return IdOut(env, first);
    }

    // loadTyped(n, cols): cols[c] (schema order) is a TypedArray of the n values of column c in
    // its C type (what cairn_table_load_columns reads in place), or null/undefined: the column
    // takes its default. -> the first new id. lib/index.js takes this path when every column
    // given is such an array; the rest goes through load().
    Napi::Value LoadTyped(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        size_t n = static_cast<size_t>(UIntArg(info, 0, 0, kMaxSafeInteger, "n"));
        if (info.Length() < 2 || !info[1].IsArray()) Throw(env, CAIRN_TYPE, "columns must be an array");
        Napi::Array cols = info[1].As<Napi::Array>();
        size_t ncols = 0;
        Check(env, cairn_table_ncols(t, &ncols));
        if (cols.Length() != ncols) Throw(env, CAIRN_INVALID, "one entry per column is needed");
        std::vector<const void *> data(ncols, nullptr);
        std::vector<const uint8_t *> validity(ncols, nullptr);
        std::vector<const uint64_t *> offsets(ncols, nullptr);
        for (size_t c = 0; c < ncols; c++) {
            Napi::Value v = cols.Get(static_cast<uint32_t>(c));
            if (v.IsUndefined() || v.IsNull()) continue;
            const char *name = nullptr;
            int type = 0, nullable = 0;
            uint32_t fixed = 0;
            Check(env, cairn_table_column(t, c, &name, &type, &fixed, &nullable));
            napi_typedarray_type want;
            switch (type) {
            case CAIRN_TYPE_I8: want = napi_int8_array; break;
            case CAIRN_TYPE_I16: want = napi_int16_array; break;
            case CAIRN_TYPE_I32: want = napi_int32_array; break;
            case CAIRN_TYPE_I64: want = napi_bigint64_array; break;
            case CAIRN_TYPE_U8: want = napi_uint8_array; break;
            case CAIRN_TYPE_U16: want = napi_uint16_array; break;
            case CAIRN_TYPE_U32: want = napi_uint32_array; break;
            case CAIRN_TYPE_U64: want = napi_biguint64_array; break;
            case CAIRN_TYPE_F32: want = napi_float32_array; break;
            case CAIRN_TYPE_F64: want = napi_float64_array; break;
            default: Throw(env, CAIRN_TYPE, std::string("column '") + name + "' takes no TypedArray");
            }
            if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
                Throw(env, CAIRN_TYPE, std::string("column '") + name + "': not the TypedArray of its type");
            // The data pointer as Node-API gives it (already past the view's offset; also for a
            // SharedArrayBuffer, which napi_get_arraybuffer_info refuses).
            napi_typedarray_type tt;
            size_t len = 0;
            void *p = nullptr;
            if (napi_get_typedarray_info(env, v, &tt, &len, &p, nullptr, nullptr) != napi_ok)
                Throw(env, CAIRN_TYPE, std::string("column '") + name + "': not a TypedArray");
            if (len != n) Throw(env, CAIRN_INVALID, "every column must have the same length");
            static const char empty[8] = {0};
            data[c] = n == 0 || p == nullptr ? static_cast<const void *>(empty) : p;
        }
        uint64_t first = 0;
        Check(env, cairn_table_load_columns(t, n, data.data(), validity.data(), offsets.data(), &first));
        return IdOut(env, first);
    }

    // schema(json?) -> the canonical text, or the JSON array of column objects
    Napi::Value Schema(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        bool json = info.Length() > 0 && info[0].ToBoolean().Value();
        char *out = nullptr;
        Check(env, cairn_table_schema(t, json ? 1 : 0, &out));
        return StringOut(env, out);
    }

    // columns() -> [[name, type, fixedLen, nullable], ...] in schema order
    Napi::Value Columns(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        size_t n = 0;
        Check(env, cairn_table_ncols(t, &n));
        Napi::Array out = Napi::Array::New(env, n);
        for (size_t i = 0; i < n; i++) {
            const char *name = nullptr;
            int type = 0, nullable = 0;
            uint32_t fixed = 0;
            Check(env, cairn_table_column(t, i, &name, &type, &fixed, &nullable));
            Napi::Array c = Napi::Array::New(env, 4);
            c.Set(0u, Napi::String::New(env, name));
            c.Set(1u, Napi::Number::New(env, type));
            c.Set(2u, Napi::Number::New(env, fixed));
            c.Set(3u, Napi::Boolean::New(env, nullable != 0));
            out.Set(static_cast<uint32_t>(i), c);
        }
        return out;
    }

    Napi::Value AddColumn(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        if (info.Length() < 1 || !info[0].IsString()) Throw(env, CAIRN_TYPE, "a column spec must be a string");
        std::string spec = info[0].As<Napi::String>().Utf8Value();
        if (spec.find('\0') != std::string::npos) Throw(env, CAIRN_INVALID, "the column spec contains a NUL byte");
        Check(env, cairn_table_add_column(t, spec.c_str()));
        return env.Undefined();
    }

    // ---- queries, indexes, export (cairn/table.h); JSON text in and out, lib/index.js converts ----

    // A string argument that may also be null/undefined (-> nullptr).
    static const char *OptJson(const Napi::CallbackInfo &info, size_t i, Bytes &b, const char *what) {
        if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
        JsonArg(info, i, b, what);
        return b.data();
    }

    static std::string ColumnArg(const Napi::CallbackInfo &info, size_t i) {
        if (i >= info.Length() || !info[i].IsString()) Throw(info.Env(), CAIRN_TYPE, "a column name must be a string");
        std::string c = info[i].As<Napi::String>().Utf8Value();
        if (c.find('\0') != std::string::npos) Throw(info.Env(), CAIRN_INVALID, "the column name contains a NUL byte");
        return c;
    }

    // query(specJson) -> result JSON text
    Napi::Value Query(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        Bytes q;
        JsonArg(info, 0, q, "query");
        char *out = nullptr;
        Check(env, cairn_table_query_json(t, q.data(), &out));
        return StringOut(env, out);
    }

    // countWhere(specJson) -> number (BigInt past 2^53)
    Napi::Value CountWhere(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        Bytes q;
        JsonArg(info, 0, q, "query");
        uint64_t n = 0;
        Check(env, cairn_table_count_where_json(t, q.data(), &n));
        return IdOut(env, n);
    }

    // join(otherTableHandle, specJson) -> result JSON text
    Napi::Value Join(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        Napi::FunctionReference &ctor = Data(env)->ctors[Api().className];
        if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(ctor.Value()))
            Throw(env, CAIRN_TYPE, "join() needs another Table");
        Table *other = Napi::ObjectWrap<Table>::Unwrap(info[0].As<Napi::Object>());
        cairn_table *r = other->Handle(env);
        Bytes q;
        JsonArg(info, 1, q, "query");
        char *out = nullptr;
        Check(env, cairn_table_join_json(t, r, q.data(), &out));
        return StringOut(env, out);
    }

    static int KindArg(const Napi::CallbackInfo &info, size_t i) {
        if (i >= info.Length() || !info[i].IsNumber()) Throw(info.Env(), CAIRN_TYPE, "an index kind must be a number");
        return info[i].As<Napi::Number>().Int32Value();
    }

    Napi::Value CreateIndex(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        std::string c = ColumnArg(info, 0);
        Check(env, cairn_table_create_index(t, c.c_str(), KindArg(info, 1)));
        return env.Undefined();
    }

    Napi::Value DropIndex(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        std::string c = ColumnArg(info, 0);
        Check(env, cairn_table_drop_index(t, c.c_str(), KindArg(info, 1)));
        return env.Undefined();
    }

    Napi::Value Indexes(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        char *out = nullptr;
        Check(env, cairn_table_indexes(Handle(env), &out));
        return StringOut(env, out);
    }

    // lookup(column, valueJson) -> JSON array of ids
    Napi::Value Lookup(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        std::string c = ColumnArg(info, 0);
        Bytes v;
        JsonArg(info, 1, v, "value");
        char *out = nullptr;
        Check(env, cairn_table_lookup_json(t, c.c_str(), v.data(), &out));
        return StringOut(env, out);
    }

    // find(conditionsJson) -> JSON array of ids
    Napi::Value Find(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        Bytes q;
        JsonArg(info, 0, q, "conditions");
        char *out = nullptr;
        Check(env, cairn_table_find_json(t, q.data(), &out));
        return StringOut(env, out);
    }

    // rangeFind(column, loJson|null, hiJson|null, flags) -> JSON array of ids
    Napi::Value RangeFind(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        std::string c = ColumnArg(info, 0);
        Bytes lo, hi;
        const char *plo = OptJson(info, 1, lo, "lo");
        const char *phi = OptJson(info, 2, hi, "hi");
        int flags = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
        char *out = nullptr;
        Check(env, cairn_table_range_find_json(t, c.c_str(), plo, phi, flags, &out));
        return StringOut(env, out);
    }

    // exportIpc(specJson|null) -> Buffer of Arrow IPC stream bytes (copied: some runtimes refuse
    // external buffers, and the copy is one memcpy of the encoded stream)
    Napi::Value ExportIpc(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        Bytes q;
        const char *pq = OptJson(info, 0, q, "query");
        void *out = nullptr;
        size_t len = 0;
        Check(env, cairn_table_export_ipc(t, pq, &out, &len));
        std::unique_ptr<void, void (*)(void *)> guard(out, cairn_free);
        return Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t *>(out), len);
    }

    // exportColumn(name) -> [ArrayBuffer of the values, ArrayBuffer of the validity bitmap or
    // null, length, format]. Fixed-width columns only; the values buffer is the exported Arrow
    // array's own memory (no copy; released by the GC) unless the runtime refuses external
    // buffers, then a copy.
    Napi::Value ExportColumn(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table *t = Handle(env);
        std::string c = ColumnArg(info, 0);
        struct ArrowSchema schema;
        struct ArrowArray *arr = new struct ArrowArray;
        int rc = cairn_table_export_column(t, c.c_str(), &schema, arr);
        if (rc != 0) {
            delete arr;
            Check(env, rc);
        }
        std::string format = schema.format ? schema.format : "";
        schema.release(&schema);
        auto release = [](struct ArrowArray *a) {
            if (a->release) a->release(a);
            delete a;
        };
        if (arr->n_buffers != 2 || format == "b" || format.empty() || format[0] == 'w') {
            release(arr);
            Throw(env, CAIRN_TYPE, "column '" + c + "' is not a fixed-width numeric column (format " + format + ")");
        }
        size_t width = 0;
        switch (format[0]) {
        case 'c': case 'C': width = 1; break;
        case 's': case 'S': width = 2; break;
        case 'i': case 'I': case 'f': width = 4; break;
        case 'l': case 'L': case 'g': case 't': width = 8; break;
        default: release(arr); Throw(env, CAIRN_TYPE, "column '" + c + "' has an unsupported format " + format);
        }
        size_t n = static_cast<size_t>(arr->length), off = static_cast<size_t>(arr->offset);
        const uint8_t *vals = static_cast<const uint8_t *>(arr->buffers[1]) + off * width;
        Napi::Value validity = env.Null();
        if (arr->null_count != 0 && arr->buffers[0] != nullptr) {
            // the bitmap from bit `off`: copied (small, and realigned to bit 0)
            Napi::ArrayBuffer vb = Napi::ArrayBuffer::New(env, (n + 7) / 8);
            uint8_t *dst = static_cast<uint8_t *>(vb.Data());
            const uint8_t *src = static_cast<const uint8_t *>(arr->buffers[0]);
            std::memset(dst, 0, (n + 7) / 8);
            for (size_t i = 0; i < n; i++)
                if ((src[(off + i) >> 3] >> ((off + i) & 7)) & 1) dst[i >> 3] |= static_cast<uint8_t>(1u << (i & 7));
            validity = vb;
        }
        Napi::Value values;
#ifdef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
        Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n * width);
        if (n) std::memcpy(ab.Data(), vals, n * width);
        release(arr);
        values = ab;
#else
        if (n == 0 || (reinterpret_cast<uintptr_t>(vals) % width) != 0) {
            Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n * width);
            if (n) std::memcpy(ab.Data(), vals, n * width);
            release(arr);
            values = ab;
        } else {
            values = Napi::ArrayBuffer::New(env, const_cast<uint8_t *>(vals), n * width,
                                            [release](Napi::Env, void *, struct ArrowArray *a) { release(a); }, arr);
        }
#endif
        Napi::Array out = Napi::Array::New(env, 4);
        out.Set(0u, values);
        out.Set(1u, validity);
        out.Set(2u, Napi::Number::New(env, static_cast<double>(n)));
        out.Set(3u, Napi::String::New(env, format));
        return out;
    }

    // Cursors, by a number: iterOpen() -> n; iterNext(n, max) -> [id, rowJson, ...] of up to max
    // rows (fewer: the end, and the cursor is freed); iterClose(n) frees it early.
    Napi::Value IterOpen(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_table_iter *it = nullptr;
        Check(env, cairn_table_iter_open(&it, Handle(env)));
        return Napi::Number::New(env, iters_.Add(it));
    }

    Napi::Value IterNext(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        Handle(env);
        return iters_.Next(env, iters_.CursorArg(info), iters_.MaxArg(info),
                           [env](cairn_table_iter *it, Napi::Array &out, uint32_t &j) {
                               uint64_t id = 0;
                               const char *row = nullptr;
                               int rc = cairn_table_iter_next_json(it, &id, &row);
                               if (rc == 0) {
                                   out.Set(j++, IdOut(env, id));
                                   out.Set(j++, Napi::String::New(env, row));
                               }
                               return rc;
                           });
    }

    Napi::Value IterClose(const Napi::CallbackInfo &info) {
        iters_.Free(iters_.CursorArg(info));
        return info.Env().Undefined();
    }

    // The native subscription exists while JS has listeners (rows are copied only then).
    Napi::Value Subscribe(const Napi::CallbackInfo &info) {
        cairn_table *t = Handle(info.Env());
        if (!subscribed_) {
            Check(info.Env(), cairn_table_subscribe(t, TableEventQueue::Push, &events_, &subId_));
            subscribed_ = true;
        }
        return info.Env().Undefined();
    }

    Napi::Value Unsubscribe(const Napi::CallbackInfo &info) {
        if (subscribed_ && !IsClosed()) {
            Check(info.Env(), cairn_table_unsubscribe(Handle(info.Env()), subId_));
        }
        subscribed_ = false;
        return info.Env().Undefined();
    }

    // Flat [event, id, newRowJson | null, oldRowJson | null, ...] queued since the last call, or
    // undefined when there are none.
    Napi::Value TakeEvents(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        std::vector<TableEventQueue::Ev> evs;
        {
            std::lock_guard<std::mutex> lock(events_.mu);
            if (events_.q.empty()) return env.Undefined();
            evs.swap(events_.q);
        }
        Napi::Array out = Napi::Array::New(env, evs.size() * 4);
        uint32_t i = 0;
        for (const auto &e : evs) {
            out.Set(i++, Napi::Number::New(env, e.event));
            out.Set(i++, IdOut(env, e.id));
            out.Set(i++, e.hasNew ? Napi::Value(Napi::String::New(env, e.newRow)) : env.Null());
            out.Set(i++, e.hasOld ? Napi::Value(Napi::String::New(env, e.oldRow)) : env.Null());
        }
        return out;
    }

    bool subscribed_ = false;
    uint64_t subId_ = 0;
    TableEventQueue events_;
    Cursors<cairn_table_iter, cairn_table_iter_free> iters_;
};

// ------------------------------------------------------------------------------------------
// Versioned store handle (cairn/repo.h)
// ------------------------------------------------------------------------------------------
// A value the core allocated (`p`, n bytes of `kind`), returned the way KV get returns one:
// meta[0] is set to the kind; TEXT and JSON come back as a string (lib/index.js parses JSON);
// BYTES and NATIVE as a number n (the bytes are in the scratch buffer) or a Buffer (too big for
// it). Takes ownership of p.
Napi::Value ValueOut(Napi::Env env, char *p, size_t n, int kind) {
    AddonData *d = Data(env);
    if (d->meta != nullptr) d->meta[0] = kind;
    if (kind == CAIRN_KIND_TEXT || kind == CAIRN_KIND_JSON) {
        std::unique_ptr<char, void (*)(void *)> guard(p, cairn_free);
        return Napi::String::New(env, n > 0 ? p : "", n);
    }
    if (d->scratch != nullptr && n <= d->scratchLen) {
        if (n > 0) std::memcpy(d->scratch, p, n);
        cairn_free(p);
        return Napi::Number::New(env, static_cast<double>(n));
    }
    return BufferOut(env, p, n);
}

// A borrowed value of a cursor: a string (TEXT, JSON) or a Buffer (a copy).
Napi::Value BorrowedValueOut(Napi::Env env, const void *p, size_t n, int kind) {
    const char *c = n > 0 && p != nullptr ? static_cast<const char *>(p) : "";
    if (kind == CAIRN_KIND_TEXT || kind == CAIRN_KIND_JSON) return Napi::String::New(env, c, n);
    return Napi::Buffer<char>::Copy(env, c, n);
}

// The bytes of many JS values at once (put_many): strings are copied (their text has no stable
// address), byte sources are pointed at in place (the caller's arrays keep them alive).
class ByteList {
  public:
    bool Add(napi_env env, napi_value v) {
        Bytes b;
        if (!b.From(env, v)) return false;
        napi_valuetype t;
        napi_typeof(env, v, &t);
        if (b.size() == 0) {
            ptrs_.push_back("");
        } else if (t == napi_string) {
            texts_.emplace_back(b.data(), b.size());
            ptrs_.push_back(texts_.back().data());
        } else {
            ptrs_.push_back(b.data());
        }
        lens_.push_back(b.size());
        return true;
    }
    const void *const *ptrs() const { return ptrs_.data(); }
    const size_t *lens() const { return lens_.data(); }

  private:
    std::list<std::string> texts_;
    std::vector<const void *> ptrs_;
    std::vector<size_t> lens_;
};

class Repo : public Store<Repo, cairn_repo, cairn_repo_options, struct cairn_repo_stats> {
  public:
    static constexpr EngineApi<cairn_repo, cairn_repo_options, struct cairn_repo_stats> kApi = {
        "repo", "RepoHandle", "repo handle is closed", "RepoHandle is internal: use new cairn.Repo(path, options)",
        CAIRN_REPO_OPTIONS_INIT, cairn_repo_open, cairn_repo_close, cairn_repo_verify,
        nullptr, nullptr, nullptr, nullptr, nullptr,  // no transactions, sync or compaction
        nullptr,                                      // count is per version: the repo's own
        cairn_repo_stats, "cairn_repo_stats", "tenants objects disk_bytes",
        {nullptr, nullptr, nullptr, nullptr, nullptr},
        nullptr,
        cairn_repo_metrics,
    };

    static std::vector<PropertyDescriptor> Methods() {
        return MethodTable({{"init", &Repo::Init}, {"tenants", &Repo::Tenants}, {"entries", &Repo::Entries},
                            {"save", &Repo::Save}, {"load", &Repo::Load}, {"exists", &Repo::Exists},
                            {"digest", &Repo::Digest}, {"put", &Repo::Put}, {"putMany", &Repo::PutMany},
                            {"get", &Repo::Get}, {"delete", &Repo::Delete}, {"count", &Repo::Count},
                            {"keys", &Repo::Keys}, {"iterOpen", &Repo::IterOpen}, {"iterNext", &Repo::IterNext},
                            {"iterClose", &Repo::IterClose}, {"diff", &Repo::Diff}, {"history", &Repo::History},
                            {"tag", &Repo::Tag}, {"tagGet", &Repo::TagGet}, {"gc", &Repo::Gc},
                            {"gcAsync", &Repo::GcAsync}});
    }

    // cacheBytes: the node cache's bound (0: the core's default, 64 MiB; 1: none).
    static void EngineOptions(OptionReader &r, cairn_repo_options &o) {
        o.cache_bytes = static_cast<uint64_t>(r.UInt("cacheBytes", 0, kMaxSafeInteger));
    }

    using Base::Base;
    ~Repo() override { CloseIfIdle(); }  // before iters_ goes

  private:
    friend Base;

    // Cursors must not outlive the repository handle: close() frees the ones still open.
    void BeforeClose() {
        iters_.FreeAll();
    }

    // An optional digest (undefined or null: the head / the empty collection).
    static const char *DigestArg(const Napi::CallbackInfo &info, size_t i, std::string &keep) {
        if (i >= info.Length() || info[i].IsUndefined() || info[i].IsNull()) return nullptr;
        keep = NameArg(info, i, "digest");
        return keep.c_str();
    }

    static int KindArg(const Napi::CallbackInfo &info, size_t i) {
        return static_cast<int>(UIntArg(info, i, CAIRN_KIND_BYTES, CAIRN_KIND_NATIVE, "kind"));
    }

    static Napi::Value DigestOut(Napi::Env env, const char *d) { return Napi::String::New(env, d); }

    Napi::Value Init(const Napi::CallbackInfo &info) {
        cairn_repo *r = Handle(info.Env());
        std::string t = NameArg(info, 0, "tenant");
        Check(info.Env(), cairn_repo_init(r, t.c_str()));
        return info.Env().Undefined();
    }

    // tenants() / entries(tenant) -> the JSON array text
    Napi::Value Tenants(const Napi::CallbackInfo &info) {
        char *out = nullptr;
        Check(info.Env(), cairn_repo_tenants(Handle(info.Env()), &out));
        return StringOut(info.Env(), out);
    }

    Napi::Value Entries(const Napi::CallbackInfo &info) {
        cairn_repo *r = Handle(info.Env());
        std::string t = NameArg(info, 0, "tenant");
        char *out = nullptr;
        Check(info.Env(), cairn_repo_entries(r, t.c_str(), &out));
        return StringOut(info.Env(), out);
    }

    // save(tenant, user, entry, value, kind) -> digest
    Napi::Value Save(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), u = NameArg(info, 1, "user"), e = NameArg(info, 2, "entry");
        Bytes v;
        GetBytes(info, 3, v, "value");
        char d[CAIRN_DIGEST_HEX + 1];
        Check(env, cairn_repo_save(r, t.c_str(), u.c_str(), e.c_str(), v.data() ? v.data() : "", v.size(),
                                   KindArg(info, 4), d));
        return DigestOut(env, d);
    }

    // load(tenant, entry, digest?) -> as KV get (undefined when absent)
    Napi::Value Load(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), e = NameArg(info, 1, "entry"), keep;
        const char *dg = DigestArg(info, 2, keep);
        void *p = nullptr;
        size_t n = 0;
        int kind = 0;
        int rc = cairn_repo_load(r, t.c_str(), e.c_str(), dg, &p, &n, &kind);
        if (rc == CAIRN_NOTFOUND) return env.Undefined();
        Check(env, rc);
        return ValueOut(env, static_cast<char *>(p), n, kind);
    }

    Napi::Value Exists(const Napi::CallbackInfo &info) {
        cairn_repo *r = Handle(info.Env());
        std::string t = NameArg(info, 0, "tenant"), e = NameArg(info, 1, "entry");
        int rc = cairn_repo_exists(r, t.c_str(), e.c_str());
        Check(info.Env(), rc);
        return Napi::Boolean::New(info.Env(), rc == 1);
    }

    // digest(tenant, entry) -> the head digest, or undefined
    Napi::Value Digest(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), e = NameArg(info, 1, "entry");
        char d[CAIRN_DIGEST_HEX + 1];
        int rc = cairn_repo_digest(r, t.c_str(), e.c_str(), d);
        if (rc == CAIRN_NOTFOUND) return env.Undefined();
        Check(env, rc);
        return DigestOut(env, d);
    }

    // put(tenant, user, entry, key, value, kind) -> digest
    Napi::Value Put(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), u = NameArg(info, 1, "user"), e = NameArg(info, 2, "entry");
        Bytes k, v;
        GetBytes(info, 3, k, "key");
        GetBytes(info, 4, v, "value");
        char d[CAIRN_DIGEST_HEX + 1];
        Check(env, cairn_repo_put(r, t.c_str(), u.c_str(), e.c_str(), k.data() ? k.data() : "", k.size(),
                                  v.data() ? v.data() : "", v.size(), KindArg(info, 5), d));
        return DigestOut(env, d);
    }

    // putMany(tenant, user, entry, keys[], values[], kinds[]) -> digest (lib/index.js makes the
    // three arrays, of the same length, from a Map, an array of pairs or an object)
    Napi::Value PutMany(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), u = NameArg(info, 1, "user"), e = NameArg(info, 2, "entry");
        if (info.Length() < 6 || !info[3].IsArray() || !info[4].IsArray() || !info[5].IsArray())
            Throw(env, CAIRN_TYPE, "putMany(tenant, user, entry, keys, values, kinds)");
        Napi::Array ks = info[3].As<Napi::Array>(), vs = info[4].As<Napi::Array>(), kinds = info[5].As<Napi::Array>();
        uint32_t n = ks.Length();
        if (vs.Length() != n || kinds.Length() != n) Throw(env, CAIRN_INVALID, "keys, values and kinds differ in length");
        ByteList keys, values;
        std::vector<int> kv(n + 1, 0);
        for (uint32_t i = 0; i < n; i++) {
            if (!keys.Add(env, ks.Get(i)))
                Throw(env, CAIRN_TYPE, "record " + std::to_string(i) + ": a key must be a string or bytes");
            if (!values.Add(env, vs.Get(i)))
                Throw(env, CAIRN_TYPE, "record " + std::to_string(i) + ": a value must be a string or bytes");
            Napi::Value k = kinds.Get(i);
            double kd = k.IsNumber() ? k.As<Napi::Number>().DoubleValue() : -1;
            if (!(kd >= 0 && kd <= CAIRN_KIND_NATIVE) || std::floor(kd) != kd)
                Throw(env, CAIRN_INVALID, "record " + std::to_string(i) + ": a bad kind");
            kv[i] = static_cast<int>(kd);
        }
        char d[CAIRN_DIGEST_HEX + 1];
        Check(env, cairn_repo_put_many(r, t.c_str(), u.c_str(), e.c_str(), n, keys.ptrs(), keys.lens(), values.ptrs(),
                                       values.lens(), kv.data(), d));
        return DigestOut(env, d);
    }

    // get(tenant, entry, key, digest?) -> as load
    Napi::Value Get(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), e = NameArg(info, 1, "entry"), keep;
        Bytes k;
        GetBytes(info, 2, k, "key");
        const char *dg = DigestArg(info, 3, keep);
        void *p = nullptr;
        size_t n = 0;
        int kind = 0;
        int rc = cairn_repo_get(r, t.c_str(), e.c_str(), dg, k.data() ? k.data() : "", k.size(), &p, &n, &kind);
        if (rc == CAIRN_NOTFOUND) return env.Undefined();
        Check(env, rc);
        return ValueOut(env, static_cast<char *>(p), n, kind);
    }

    // delete(tenant, user, entry, key) -> digest (CAIRN_NOTFOUND when the key is absent)
    Napi::Value Delete(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), u = NameArg(info, 1, "user"), e = NameArg(info, 2, "entry");
        Bytes k;
        GetBytes(info, 3, k, "key");
        char d[CAIRN_DIGEST_HEX + 1];
        Check(env, cairn_repo_delete(r, t.c_str(), u.c_str(), e.c_str(), k.data() ? k.data() : "", k.size(), d));
        return DigestOut(env, d);
    }

    Napi::Value Count(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), e = NameArg(info, 1, "entry"), keep;
        const char *dg = DigestArg(info, 2, keep);
        uint64_t n = 0;
        Check(env, cairn_repo_count(r, t.c_str(), e.c_str(), dg, &n));
        return Napi::Number::New(env, static_cast<double>(n));
    }

    // keys(tenant, entry, digest?) -> Array of the keys in order (strings, or Buffers when not UTF-8)
    Napi::Value Keys(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), e = NameArg(info, 1, "entry"), keep;
        const char *dg = DigestArg(info, 2, keep);
        cairn_repo_iter *it = nullptr;
        Check(env, cairn_repo_iter_open(&it, r, t.c_str(), e.c_str(), dg));
        return Drain(env, it, cairn_repo_iter_free, [env](cairn_repo_iter *i, Napi::Value &out) {
            const void *k = nullptr, *v = nullptr;
            size_t kl = 0, vl = 0;
            int kind = 0;
            int rc = cairn_repo_iter_next(i, &k, &kl, &v, &vl, &kind);
            if (rc == 0) out = KeyOut(env, k, kl);
            return rc;
        });
    }

    // Cursors, by a number: iterOpen(tenant, entry, digest?) -> n; iterNext(n, max) -> [key,
    // value, kind, ...] of up to max records (fewer: the end, and the cursor is freed);
    // iterClose(n) frees it early.
    Napi::Value IterOpen(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), e = NameArg(info, 1, "entry"), keep;
        const char *dg = DigestArg(info, 2, keep);
        cairn_repo_iter *it = nullptr;
        Check(env, cairn_repo_iter_open(&it, r, t.c_str(), e.c_str(), dg));
        return Napi::Number::New(env, iters_.Add(it));
    }

    Napi::Value IterNext(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        Handle(env);
        return iters_.Next(env, iters_.CursorArg(info), iters_.MaxArg(info),
                           [env](cairn_repo_iter *it, Napi::Array &out, uint32_t &j) {
                               const void *k = nullptr, *v = nullptr;
                               size_t kl = 0, vl = 0;
                               int kind = 0;
                               int rc = cairn_repo_iter_next(it, &k, &kl, &v, &vl, &kind);
                               if (rc == 0) {
                                   out.Set(j++, KeyOut(env, k, kl));
                                   out.Set(j++, BorrowedValueOut(env, v, vl, kind));
                                   out.Set(j++, Napi::Number::New(env, kind));
                               }
                               return rc;
                           });
    }

    Napi::Value IterClose(const Napi::CallbackInfo &info) {
        iters_.Free(iters_.CursorArg(info));
        return info.Env().Undefined();
    }

    // diff(tenant, d1, d2) -> the JSON text {added, removed, changed}
    Napi::Value Diff(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), k1, k2;
        const char *d1 = DigestArg(info, 1, k1), *d2 = DigestArg(info, 2, k2);
        char *out = nullptr;
        Check(env, cairn_repo_diff(r, t.c_str(), d1, d2, &out));
        return StringOut(env, out);
    }

    // history(tenant, entry, max) -> the JSON text of the versions, newest first
    Napi::Value History(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), e = NameArg(info, 1, "entry");
        size_t max = static_cast<size_t>(UIntArg(info, 2, 0, kMaxSafeInteger, "max"));
        char *out = nullptr;
        Check(env, cairn_repo_history(r, t.c_str(), e.c_str(), max, &out));
        return StringOut(env, out);
    }

    Napi::Value Tag(const Napi::CallbackInfo &info) {
        cairn_repo *r = Handle(info.Env());
        std::string t = NameArg(info, 0, "tenant"), name = NameArg(info, 1, "tag"), d = NameArg(info, 2, "digest");
        Check(info.Env(), cairn_repo_tag(r, t.c_str(), name.c_str(), d.c_str()));
        return info.Env().Undefined();
    }

    // tagGet(tenant, name) -> digest, or undefined
    Napi::Value TagGet(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        std::string t = NameArg(info, 0, "tenant"), name = NameArg(info, 1, "tag");
        char d[CAIRN_DIGEST_HEX + 1];
        int rc = cairn_repo_tag_get(r, t.c_str(), name.c_str(), d);
        if (rc == CAIRN_NOTFOUND) return env.Undefined();
        Check(env, rc);
        return DigestOut(env, d);
    }

    // gc(graceMs?) -> the number of objects removed
    Napi::Value Gc(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_repo *r = Handle(env);
        uint64_t grace = static_cast<uint64_t>(UIntArg(info, 0, 0, kMaxSafeInteger, "graceMs"));
        uint64_t removed = 0;
        Check(env, cairn_repo_gc(r, grace, &removed));
        return Napi::Number::New(env, static_cast<double>(removed));
    }

    Napi::Value GcAsync(const Napi::CallbackInfo &info) {
        uint64_t grace = static_cast<uint64_t>(UIntArg(info, 0, 0, kMaxSafeInteger, "graceMs"));
        auto removed = std::make_shared<uint64_t>(0);
        return RunAsync(
            info, "gc", [grace, removed](cairn_repo *r) { return cairn_repo_gc(r, grace, removed.get()); },
            [removed](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, static_cast<double>(*removed)); });
    }

    Cursors<cairn_repo_iter, cairn_repo_iter_free> iters_;
};

// ------------------------------------------------------------------------------------------
// Module
// ------------------------------------------------------------------------------------------
Napi::Value SetErrorFactory(const Napi::CallbackInfo &info) {
    if (info.Length() < 1 || !info[0].IsFunction()) Throw(info.Env(), CAIRN_TYPE, "factory must be a function");
    Data(info.Env())->errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
}

// setScratch(buffer, int32Array): see AddonData.
Napi::Value SetScratch(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        info[1].As<Napi::TypedArray>().ElementLength() < 1)
        Throw(env, CAIRN_TYPE, "setScratch(Buffer, Int32Array)");
    AddonData *d = Data(env);
    Napi::Buffer<char> buf = info[0].As<Napi::Buffer<char>>();
    Napi::Int32Array meta = info[1].As<Napi::Int32Array>();
    d->scratchRef = Napi::Persistent(buf.As<Napi::Object>());
    d->metaRef = Napi::Persistent(meta.As<Napi::Object>());
    d->scratch = buf.Data();
    d->scratchLen = buf.Length();
    d->meta = meta.Data();
    return env.Undefined();
}

// [[code, 'CAIRN_NAME', 'text'], ...] straight from the core's error table.
Napi::Value ErrorTable(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    auto add = [&](int code, const char *text) {
        Napi::Array row = Napi::Array::New(env, 3);
        row.Set(0u, Napi::Number::New(env, code));
        row.Set(1u, Napi::String::New(env, cairn_errname(code)));
        row.Set(2u, Napi::String::New(env, text));
        out.Set(i++, row);
    };
#define X(code, name, text) add(code, text);
#include "cairn_errors.def"
#undef X
    return out;
}

// testingSetClock(ms): FOR TESTS ONLY (cairn_testing_set_clock): a process-wide fake wall
// clock for expiry; 0 returns to the real clock.
Napi::Value TestingSetClock(const Napi::CallbackInfo &info) {
    double ms = UIntArg(info, 0, 0, kMaxSafeInteger, "ms");
    g_testClockMs.store(static_cast<int64_t>(ms), std::memory_order_relaxed);
    cairn_testing_set_clock(static_cast<int64_t>(ms));
    return info.Env().Undefined();
}

// cairn_table_repair(path, &rebuilt): the number of segment references rebuilt.
Napi::Value TableRepair(const Napi::CallbackInfo &info) {
    std::string path = PathArg(info, 0);
    uint64_t rebuilt = 0;
    Check(info.Env(), cairn_table_repair(path.c_str(), &rebuilt));
    return Napi::Number::New(info.Env(), static_cast<double>(rebuilt));
}

Napi::Value Version(const Napi::CallbackInfo &info) { return Napi::String::New(info.Env(), cairn_version()); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
    AddonData *d = new AddonData();
    env.SetInstanceData(d);
    exports.Set("KVHandle", KV::Define(env));
    exports.Set("BlobHandle", Blob::Define(env));
    exports.Set("TableHandle", Table::Define(env));
    exports.Set("RepoHandle", Repo::Define(env));
    exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory, "setErrorFactory"));
    exports.Set("setScratch", Napi::Function::New(env, SetScratch, "setScratch"));
    exports.Set("errorTable", Napi::Function::New(env, ErrorTable, "errorTable"));
    exports.Set("version", Napi::Function::New(env, Version, "version"));
    exports.Set("tableRepair", Napi::Function::New(env, TableRepair, "tableRepair"));
    exports.Set("testingSetClock", Napi::Function::New(env, TestingSetClock, "testingSetClock"));
    exports.Set("KIND_BYTES", Napi::Number::New(env, CAIRN_KIND_BYTES));
    exports.Set("KIND_TEXT", Napi::Number::New(env, CAIRN_KIND_TEXT));
    exports.Set("KIND_JSON", Napi::Number::New(env, CAIRN_KIND_JSON));
    exports.Set("KIND_NATIVE", Napi::Number::New(env, CAIRN_KIND_NATIVE));
    exports.Set("SYNC_NONE", Napi::Number::New(env, CAIRN_SYNC_NONE));
    exports.Set("SYNC_COMMIT", Napi::Number::New(env, CAIRN_SYNC_COMMIT));
    exports.Set("SYNC_GROUP", Napi::Number::New(env, CAIRN_SYNC_GROUP));
    // Column types of the table (cairn_type): { i8: 1, ..., 'bytes:N': 12, ..., timestamp: 15 }.
    Napi::Object types = Napi::Object::New(env);
    const std::pair<const char *, int> typeNames[] = {
        {"i8", CAIRN_TYPE_I8}, {"i16", CAIRN_TYPE_I16}, {"i32", CAIRN_TYPE_I32}, {"i64", CAIRN_TYPE_I64},
        {"u8", CAIRN_TYPE_U8}, {"u16", CAIRN_TYPE_U16}, {"u32", CAIRN_TYPE_U32}, {"u64", CAIRN_TYPE_U64},
        {"f32", CAIRN_TYPE_F32}, {"f64", CAIRN_TYPE_F64}, {"bool", CAIRN_TYPE_BOOL}, {"bytes:N", CAIRN_TYPE_FIXED},
        {"string", CAIRN_TYPE_STRING}, {"bytes", CAIRN_TYPE_BYTES}, {"timestamp", CAIRN_TYPE_TIMESTAMP}};
    for (const auto &tn : typeNames) types.Set(tn.first, Napi::Number::New(env, tn.second));
    exports.Set("COLUMN_TYPES", types);
    exports.Set("TABLE_INSERTED", Napi::Number::New(env, CAIRN_TABLE_INSERTED));
    exports.Set("TABLE_UPDATED", Napi::Number::New(env, CAIRN_TABLE_UPDATED));
    exports.Set("TABLE_DELETED", Napi::Number::New(env, CAIRN_TABLE_DELETED));
    return exports;
}

}  // namespace

NODE_API_MODULE(cairn, Init)
