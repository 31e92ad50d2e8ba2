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
//  - Slow calls (open, sync, reclaim, flush, compact, check) have Promise variants run on the
//    libuv thread pool. A handle counts its in-flight work: close() while work is running marks
//    the handle closed at once and closes the C handle when the last piece of work ends.
//  - A handle that is garbage collected without close() is closed by its finalizer (backstop).
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
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
    Napi::FunctionReference kvCtor;
    Napi::FunctionReference blobCtor;
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

bool BoolArg(const Napi::CallbackInfo &info, size_t i, bool dflt, const char *what) {
    if (i >= info.Length() || info[i].IsUndefined()) return dflt;
    if (!info[i].IsBoolean()) Throw(info.Env(), CAIRN_TYPE, std::string(what) + " must be a boolean");
    return info[i].As<Napi::Boolean>().Value();
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

// A handle opened on the pool, closed unless a wrapper took it (e.g. if wrapping throws).
template <typename T, void (*Close)(T *)>
struct Owned {
    T *p = nullptr;
    ~Owned() { Close(p); }
};

// ------------------------------------------------------------------------------------------
// KV handle
// ------------------------------------------------------------------------------------------
cairn_kv_options KvOptions(const Napi::CallbackInfo &info, size_t i) {
    // open(path, create, readOnly, sync, maxFileSize, lockTimeoutMs): lib/index.js normalises.
    cairn_kv_options o = CAIRN_KV_OPTIONS_INIT;
    o.create = BoolArg(info, i, true, "create") ? 1 : 0;
    o.read_only = BoolArg(info, i + 1, false, "readOnly") ? 1 : 0;
    o.sync = static_cast<int>(UIntArg(info, i + 2, CAIRN_SYNC_COMMIT, CAIRN_SYNC_GROUP, "sync"));
    o.max_file_size = static_cast<uint64_t>(UIntArg(info, i + 3, 0, 9007199254740991.0, "maxFileSize"));
    o.lock_timeout_ms = static_cast<unsigned>(UIntArg(info, i + 4, 0, 4294967295.0, "lockTimeoutMs"));
    return o;
}

class KV : public Napi::ObjectWrap<KV> {
  public:
    static Napi::Function Define(Napi::Env env) {
        return DefineClass(env, "KVHandle", {
            StaticMethod("open", &KV::Open),
            StaticMethod("openAsync", &KV::OpenAsync),
            StaticMethod("check", &KV::CheckPath),
            StaticMethod("checkAsync", &KV::CheckPathAsync),
            InstanceMethod("put", &KV::Put),
            InstanceMethod("get", &KV::Get),
            InstanceMethod("delete", &KV::Delete),
            InstanceMethod("has", &KV::Has),
            InstanceMethod("count", &KV::Count),
            InstanceMethod("keys", &KV::Keys),
            InstanceMethod("expiry", &KV::Expiry),
            InstanceMethod("begin", &KV::Begin),
            InstanceMethod("commit", &KV::Commit),
            InstanceMethod("rollback", &KV::Rollback),
            InstanceMethod("sync", &KV::Sync),
            InstanceMethod("syncAsync", &KV::SyncAsync),
            InstanceMethod("reclaim", &KV::Reclaim),
            InstanceMethod("reclaimAsync", &KV::ReclaimAsync),
            InstanceMethod("stats", &KV::Stats),
            InstanceMethod("close", &KV::Close),
            InstanceAccessor("closed", &KV::Closed, nullptr),
        });
    }

    explicit KV(const Napi::CallbackInfo &info) : Napi::ObjectWrap<KV>(info) {
        if (info.Length() != 1 || !info[0].IsExternal())
            Throw(info.Env(), CAIRN_INVALID, "KVHandle is internal: use new cairn.KV(path) or cairn.open(path)");
        kv_ = info[0].As<Napi::External<cairn_kv>>().Data();
    }
    ~KV() override {
        // GC backstop. Work in flight holds a reference to this object, so busy_ is 0 here
        // except at environment teardown, where the C handle must outlive the work.
        if (kv_ != nullptr && busy_ == 0) cairn_kv_close(kv_);
    }

  private:
    static Napi::Object Wrap(Napi::Env env, cairn_kv *kv) {
        return Data(env)->kvCtor.New({Napi::External<cairn_kv>::New(env, kv)});
    }

    static Napi::Value Open(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        cairn_kv_options o = KvOptions(info, 1);
        cairn_kv *kv = nullptr;
        int rc = cairn_kv_open(&kv, path.c_str(), &o);
        Check(info.Env(), rc);
        return Wrap(info.Env(), kv);
    }

    static Napi::Value OpenAsync(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        cairn_kv_options o = KvOptions(info, 1);
        auto out = std::make_shared<Owned<cairn_kv, cairn_kv_close>>();
        return Work::Run(
            info.Env(), "cairn.kv.open",
            [path, o, out]() { return cairn_kv_open(&out->p, path.c_str(), &o); },
            [out](Napi::Env env) -> Napi::Value {
                Napi::Object h = Wrap(env, out->p);
                out->p = nullptr;  // the wrapper owns it now
                return h;
            });
    }

    static Napi::Value CheckPath(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        Check(info.Env(), cairn_kv_check(path.c_str()));
        return info.Env().Undefined();
    }

    static Napi::Value CheckPathAsync(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        return Work::Run(info.Env(), "cairn.kv.check", [path]() { return cairn_kv_check(path.c_str()); },
                         nullptr);
    }

    cairn_kv *H(Napi::Env env) {
        if (closed_) Throw(env, CAIRN_CLOSED, "KV handle is closed");
        return kv_;
    }

    // put(key, value, kind?, expireAtMs?): kind defaults to TEXT for a string, BYTES otherwise.
    Napi::Value Put(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_kv *kv = H(env);
        Bytes k, v;
        GetBytes(info, 0, k, "key");
        GetBytes(info, 1, v, "value");
        int kind;
        if (info.Length() > 2 && !info[2].IsUndefined()) {
            kind = static_cast<int>(UIntArg(info, 2, 0, CAIRN_KIND_NATIVE, "kind"));
        } else {
            kind = info[1].IsString() ? CAIRN_KIND_TEXT : CAIRN_KIND_BYTES;
        }
        double exp = UIntArg(info, 3, 0, 9007199254740991.0, "expireAtMs");
        int rc = exp != 0 ? cairn_kv_put_ex(kv, k.data(), k.size(), v.data(), v.size(), kind,
                                            static_cast<int64_t>(exp))
                          : cairn_kv_put(kv, k.data(), k.size(), v.data(), v.size(), kind);
        Check(env, rc);
        return env.Undefined();
    }

    // get(key) -> undefined (absent) | string (TEXT, or JSON text: meta[0] says which) |
    // number n (BYTES/NATIVE copied into the scratch buffer, n bytes) | Buffer (too big for it).
    // lib/index.js turns this into the value; meta[0] is always set to the kind.
    Napi::Value Get(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_kv *kv = H(env);
        AddonData *d = Data(env);
        Bytes k;
        GetBytes(info, 0, k, "key");
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
        Napi::Env env = info.Env();
        cairn_kv *kv = H(env);
        Bytes k;
        GetBytes(info, 0, k, "key");
        int rc = cairn_kv_delete(kv, k.data(), k.size());
        if (rc == CAIRN_NOTFOUND) Throw(env, rc, "key not found");
        Check(env, rc);
        return env.Undefined();
    }

    Napi::Value Has(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_kv *kv = H(env);
        Bytes k;
        GetBytes(info, 0, k, "key");
        int rc = cairn_kv_exists(kv, k.data(), k.size());
        Check(env, rc);
        return Napi::Boolean::New(env, rc == 1);
    }

    Napi::Value Count(const Napi::CallbackInfo &info) {
        uint64_t n = 0;
        Check(info.Env(), cairn_kv_count(H(info.Env()), &n));
        return Napi::Number::New(info.Env(), static_cast<double>(n));
    }

    // keys(prefix?): an Array snapshot, ascending bytewise.
    Napi::Value Keys(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_kv *kv = H(env);
        Bytes pre;
        bool hasPrefix = info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull();
        if (hasPrefix) GetBytes(info, 0, pre, "prefix");
        cairn_kv_iter *it = nullptr;
        Check(env, cairn_kv_iter_open(&it, kv, hasPrefix ? pre.data() : "", hasPrefix ? pre.size() : 0));
        std::unique_ptr<cairn_kv_iter, void (*)(cairn_kv_iter *)> guard(it, cairn_kv_iter_free);
        Napi::Array out = Napi::Array::New(env);
        uint32_t i = 0;
        for (;;) {
            const void *key = nullptr;
            size_t klen = 0;
            int rc = cairn_kv_iter_next(it, &key, &klen);
            if (rc == CAIRN_ITEROVER) break;
            Check(env, rc);
            out.Set(i++, KeyOut(env, key, klen));
        }
        return out;
    }

    // expiry(key): Unix ms (0: never), undefined if absent.
    Napi::Value Expiry(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_kv *kv = H(env);
        Bytes k;
        GetBytes(info, 0, k, "key");
        int64_t at = 0;
        int rc = cairn_kv_expiry(kv, k.data(), k.size(), &at);
        if (rc == CAIRN_NOTFOUND) return env.Undefined();
        Check(env, rc);
        return Napi::Number::New(env, static_cast<double>(at));
    }

    Napi::Value Simple(const Napi::CallbackInfo &info, int (*fn)(cairn_kv *)) {
        Check(info.Env(), fn(H(info.Env())));
        return info.Env().Undefined();
    }
    Napi::Value Begin(const Napi::CallbackInfo &info) { return Simple(info, cairn_kv_begin); }
    Napi::Value Commit(const Napi::CallbackInfo &info) { return Simple(info, cairn_kv_commit); }
    Napi::Value Rollback(const Napi::CallbackInfo &info) { return Simple(info, cairn_kv_rollback); }
    Napi::Value Sync(const Napi::CallbackInfo &info) { return Simple(info, cairn_kv_sync); }
    Napi::Value Reclaim(const Napi::CallbackInfo &info) { return Simple(info, cairn_kv_compact); }

    Napi::Value RunAsync(const Napi::CallbackInfo &info, const char *name, int (*fn)(cairn_kv *)) {
        cairn_kv *kv = H(info.Env());
        busy_++;
        return Work::Run(
            info.Env(), name, [kv, fn]() { return fn(kv); }, nullptr,
            [this]() {
                if (--busy_ == 0 && closed_ && kv_ != nullptr) {
                    cairn_kv_close(kv_);
                    kv_ = nullptr;
                }
            },
            Value());
    }
    Napi::Value SyncAsync(const Napi::CallbackInfo &info) { return RunAsync(info, "cairn.kv.sync", cairn_kv_sync); }
    Napi::Value ReclaimAsync(const Napi::CallbackInfo &info) {
        return RunAsync(info, "cairn.kv.reclaim", cairn_kv_compact);
    }

    Napi::Value Stats(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        struct cairn_kv_stats s = CAIRN_KV_STATS_INIT;
        std::memset(&s, 0, sizeof s);
        Check(env, cairn_kv_stats(H(env), &s));
        Napi::Object o = Napi::Object::New(env);
        auto num = [&](const char *k, uint64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
        num("keys", s.keys);
        num("dataFiles", s.data_files);
        num("diskBytes", s.disk_bytes);
        num("liveBytes", s.live_bytes);
        num("deadBytes", s.dead_bytes);
        num("keydirBytes", s.keydir_bytes);
        num("seq", s.seq);
        num("compactions", s.compactions);
        o.Set("inTxn", Napi::Boolean::New(env, s.in_txn != 0));
        return o;
    }

    Napi::Value Close(const Napi::CallbackInfo &info) {
        if (!closed_) {
            closed_ = true;
            if (busy_ == 0) {
                cairn_kv_close(kv_);
                kv_ = nullptr;
            }
        }
        return info.Env().Undefined();
    }

    Napi::Value Closed(const Napi::CallbackInfo &info) { return Napi::Boolean::New(info.Env(), closed_); }

    cairn_kv *kv_ = nullptr;
    bool closed_ = false;
    int busy_ = 0;
};

// ------------------------------------------------------------------------------------------
// Blob store handle
// ------------------------------------------------------------------------------------------
// Events are queued by the C callback (it may run on a pool thread during async work) and
// drained by lib/index.js after each call, which emits them on the EventEmitter.
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

cairn_blob_options BlobOptions(const Napi::CallbackInfo &info, size_t i) {
    // open(path, create, readOnly, sync, lockTimeoutMs)
    cairn_blob_options o = CAIRN_BLOB_OPTIONS_INIT;
    o.create = BoolArg(info, i, true, "create") ? 1 : 0;
    o.read_only = BoolArg(info, i + 1, false, "readOnly") ? 1 : 0;
    o.sync = static_cast<int>(UIntArg(info, i + 2, CAIRN_SYNC_COMMIT, CAIRN_SYNC_GROUP, "sync"));
    o.lock_timeout_ms = static_cast<unsigned>(UIntArg(info, i + 3, 0, 4294967295.0, "lockTimeoutMs"));
    return o;
}

class Blob : public Napi::ObjectWrap<Blob> {
  public:
    static Napi::Function Define(Napi::Env env) {
        return DefineClass(env, "BlobHandle", {
            StaticMethod("open", &Blob::Open),
            StaticMethod("openAsync", &Blob::OpenAsync),
            StaticMethod("check", &Blob::CheckPath),
            StaticMethod("checkAsync", &Blob::CheckPathAsync),
            InstanceMethod("create", &Blob::Create),
            InstanceMethod("createWithKey", &Blob::CreateWithKey),
            InstanceMethod("reserveNextKey", &Blob::ReserveNextKey),
            InstanceMethod("read", &Blob::Read),
            InstanceMethod("update", &Blob::Update),
            InstanceMethod("delete", &Blob::Delete),
            InstanceMethod("exists", &Blob::Exists),
            InstanceMethod("count", &Blob::Count),
            InstanceMethod("keys", &Blob::Keys),
            InstanceMethod("flush", &Blob::Flush),
            InstanceMethod("flushAsync", &Blob::FlushAsync),
            InstanceMethod("compact", &Blob::Compact),
            InstanceMethod("compactAsync", &Blob::CompactAsync),
            InstanceMethod("stats", &Blob::Stats),
            InstanceMethod("begin", &Blob::Begin),
            InstanceMethod("commit", &Blob::Commit),
            InstanceMethod("rollback", &Blob::Rollback),
            InstanceMethod("subscribe", &Blob::Subscribe),
            InstanceMethod("unsubscribe", &Blob::Unsubscribe),
            InstanceMethod("takeEvents", &Blob::TakeEvents),
            InstanceMethod("close", &Blob::Close),
            InstanceAccessor("closed", &Blob::Closed, nullptr),
        });
    }

    explicit Blob(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Blob>(info) {
        if (info.Length() != 1 || !info[0].IsExternal())
            Throw(info.Env(), CAIRN_INVALID, "BlobHandle is internal: use new cairn.BlobStore(path)");
        b_ = info[0].As<Napi::External<cairn_blob>>().Data();
    }
    ~Blob() override {
        if (b_ != nullptr && busy_ == 0) cairn_blob_close(b_);
    }

  private:
    static Napi::Object Wrap(Napi::Env env, cairn_blob *b) {
        return Data(env)->blobCtor.New({Napi::External<cairn_blob>::New(env, b)});
    }

    static Napi::Value Open(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        cairn_blob_options o = BlobOptions(info, 1);
        cairn_blob *b = nullptr;
        Check(info.Env(), cairn_blob_open(&b, path.c_str(), &o));
        return Wrap(info.Env(), b);
    }

    static Napi::Value OpenAsync(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        cairn_blob_options o = BlobOptions(info, 1);
        auto out = std::make_shared<Owned<cairn_blob, cairn_blob_close>>();
        return Work::Run(
            info.Env(), "cairn.blob.open",
            [path, o, out]() { return cairn_blob_open(&out->p, path.c_str(), &o); },
            [out](Napi::Env env) -> Napi::Value {
                Napi::Object h = Wrap(env, out->p);
                out->p = nullptr;  // the wrapper owns it now
                return h;
            });
    }

    static Napi::Value CheckPath(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        Check(info.Env(), cairn_blob_check(path.c_str()));
        return info.Env().Undefined();
    }

    static Napi::Value CheckPathAsync(const Napi::CallbackInfo &info) {
        std::string path = PathArg(info, 0);
        return Work::Run(info.Env(), "cairn.blob.check", [path]() { return cairn_blob_check(path.c_str()); },
                         nullptr);
    }

    cairn_blob *H(Napi::Env env) {
        if (closed_) Throw(env, CAIRN_CLOSED, "blob store handle is closed");
        return b_;
    }

    Napi::Value Create(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_blob *b = H(env);
        Bytes d;
        GetBytes(info, 0, d, "data");
        uint32_t key = 0;
        Check(env, cairn_blob_create(b, d.data(), d.size(), &key));
        return Napi::Number::New(env, key);
    }

    Napi::Value CreateWithKey(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_blob *b = H(env);
        uint32_t key = BlobKeyArg(info, 0);
        Bytes d;
        GetBytes(info, 1, d, "data");
        Check(env, cairn_blob_create_with_key(b, key, d.data(), d.size()));
        return env.Undefined();
    }

    Napi::Value ReserveNextKey(const Napi::CallbackInfo &info) {
        uint32_t key = 0;
        Check(info.Env(), cairn_blob_reserve_next_key(H(info.Env()), &key));
        return Napi::Number::New(info.Env(), key);
    }

    Napi::Value Read(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_blob *b = H(env);
        uint32_t key = BlobKeyArg(info, 0);
        void *p = nullptr;
        size_t n = 0;
        int rc = cairn_blob_read(b, key, &p, &n);
        if (rc == CAIRN_NOTFOUND) Throw(env, rc, "blob " + std::to_string(key) + " not found");
        Check(env, rc);
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
        Napi::Env env = info.Env();
        cairn_blob *b = H(env);
        uint32_t key = BlobKeyArg(info, 0);
        Bytes d;
        GetBytes(info, 1, d, "data");
        int rc = cairn_blob_update(b, key, d.data(), d.size());
        if (rc == CAIRN_NOTFOUND) Throw(env, rc, "blob " + std::to_string(key) + " not found");
        Check(env, rc);
        return env.Undefined();
    }

    Napi::Value Delete(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_blob *b = H(env);
        uint32_t key = BlobKeyArg(info, 0);
        int rc = cairn_blob_delete(b, key);
        if (rc == CAIRN_NOTFOUND) Throw(env, rc, "blob " + std::to_string(key) + " not found");
        Check(env, rc);
        return env.Undefined();
    }

    Napi::Value Exists(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_blob *b = H(env);
        uint32_t key = BlobKeyArg(info, 0);
        int rc = cairn_blob_exists(b, key);
        Check(env, rc);
        return Napi::Boolean::New(env, rc == 1);
    }

    Napi::Value Count(const Napi::CallbackInfo &info) {
        uint64_t n = 0;
        Check(info.Env(), cairn_blob_count(H(info.Env()), &n));
        return Napi::Number::New(info.Env(), static_cast<double>(n));
    }

    Napi::Value Keys(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cairn_blob_iter *it = nullptr;
        Check(env, cairn_blob_iter_open(&it, H(env)));
        std::unique_ptr<cairn_blob_iter, void (*)(cairn_blob_iter *)> guard(it, cairn_blob_iter_free);
        Napi::Array out = Napi::Array::New(env);
        uint32_t i = 0;
        for (;;) {
            uint32_t key = 0;
            int rc = cairn_blob_iter_next(it, &key);
            if (rc == CAIRN_ITEROVER) break;
            Check(env, rc);
            out.Set(i++, Napi::Number::New(env, key));
        }
        return out;
    }

    Napi::Value Simple(const Napi::CallbackInfo &info, int (*fn)(cairn_blob *)) {
        Check(info.Env(), fn(H(info.Env())));
        return info.Env().Undefined();
    }
    Napi::Value Flush(const Napi::CallbackInfo &info) { return Simple(info, cairn_blob_sync); }
    Napi::Value Compact(const Napi::CallbackInfo &info) { return Simple(info, cairn_blob_compact); }
    Napi::Value Begin(const Napi::CallbackInfo &info) { return Simple(info, cairn_blob_begin); }
    Napi::Value Commit(const Napi::CallbackInfo &info) { return Simple(info, cairn_blob_commit); }
    Napi::Value Rollback(const Napi::CallbackInfo &info) { return Simple(info, cairn_blob_rollback); }

    Napi::Value RunAsync(const Napi::CallbackInfo &info, const char *name, int (*fn)(cairn_blob *)) {
        cairn_blob *b = H(info.Env());
        busy_++;
        return Work::Run(
            info.Env(), name, [b, fn]() { return fn(b); }, nullptr,
            [this]() {
                if (--busy_ == 0 && closed_ && b_ != nullptr) {
                    cairn_blob_close(b_);
                    b_ = nullptr;
                }
            },
            Value());
    }
    Napi::Value FlushAsync(const Napi::CallbackInfo &info) {
        return RunAsync(info, "cairn.blob.flush", cairn_blob_sync);
    }
    Napi::Value CompactAsync(const Napi::CallbackInfo &info) {
        return RunAsync(info, "cairn.blob.compact", cairn_blob_compact);
    }

    Napi::Value Stats(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        struct cairn_blob_stats s = CAIRN_BLOB_STATS_INIT;
        std::memset(&s, 0, sizeof s);
        Check(env, cairn_blob_stats(H(env), &s));
        Napi::Object o = Napi::Object::New(env);
        auto num = [&](const char *k, uint64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
        num("entries", s.entries);
        num("liveBytes", s.live_bytes);
        num("freeBytes", s.free_bytes);
        num("freeEntries", s.free_entries);
        num("fileSize", s.file_size);
        num("walBytes", s.wal_bytes);
        num("nextKey", s.next_key);
        o.Set("inTxn", Napi::Boolean::New(env, s.in_txn != 0));
        return o;
    }

    Napi::Value Subscribe(const Napi::CallbackInfo &info) {
        cairn_blob *b = H(info.Env());
        if (!subscribed_) {
            Check(info.Env(), cairn_blob_subscribe(b, EventQueue::Push, &events_, &subId_));
            subscribed_ = true;
        }
        return info.Env().Undefined();
    }

    Napi::Value Unsubscribe(const Napi::CallbackInfo &info) {
        cairn_blob *b = H(info.Env());
        if (subscribed_) {
            Check(info.Env(), cairn_blob_unsubscribe(b, subId_));
            subscribed_ = false;
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

    Napi::Value Close(const Napi::CallbackInfo &info) {
        if (!closed_) {
            closed_ = true;
            if (busy_ == 0) {
                cairn_blob_close(b_);
                b_ = nullptr;
            }
        }
        return info.Env().Undefined();
    }

    Napi::Value Closed(const Napi::CallbackInfo &info) { return Napi::Boolean::New(info.Env(), closed_); }

    cairn_blob *b_ = nullptr;
    bool closed_ = false;
    int busy_ = 0;
    bool subscribed_ = false;
    uint64_t subId_ = 0;
    EventQueue events_;
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

Napi::Value Version(const Napi::CallbackInfo &info) { return Napi::String::New(info.Env(), cairn_version()); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
    AddonData *d = new AddonData();
    env.SetInstanceData(d);
    Napi::Function kv = KV::Define(env);
    d->kvCtor = Napi::Persistent(kv);
    Napi::Function blob = Blob::Define(env);
    d->blobCtor = Napi::Persistent(blob);
    exports.Set("KVHandle", kv);
    exports.Set("BlobHandle", blob);
    exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory, "setErrorFactory"));
    exports.Set("setScratch", Napi::Function::New(env, SetScratch, "setScratch"));
    exports.Set("errorTable", Napi::Function::New(env, ErrorTable, "errorTable"));
    exports.Set("version", Napi::Function::New(env, Version, "version"));
    exports.Set("KIND_BYTES", Napi::Number::New(env, CAIRN_KIND_BYTES));
    exports.Set("KIND_TEXT", Napi::Number::New(env, CAIRN_KIND_TEXT));
    exports.Set("KIND_JSON", Napi::Number::New(env, CAIRN_KIND_JSON));
    exports.Set("KIND_NATIVE", Napi::Number::New(env, CAIRN_KIND_NATIVE));
    exports.Set("SYNC_NONE", Napi::Number::New(env, CAIRN_SYNC_NONE));
    exports.Set("SYNC_COMMIT", Napi::Number::New(env, CAIRN_SYNC_COMMIT));
    exports.Set("SYNC_GROUP", Napi::Number::New(env, CAIRN_SYNC_GROUP));
    return exports;
}

}  // namespace

NODE_API_MODULE(cairn, Init)
