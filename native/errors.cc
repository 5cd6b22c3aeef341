// Maps C++ exceptions (ours, c10's, the standard library's) to short JS errors.
#include "common.h"

#include <regex>

namespace langevin {

void ThrowType(const std::string& msg) { throw JsError(ErrKind::Type, msg, "ERR_INVALID_ARG_TYPE"); }
void ThrowRange(const std::string& msg, const std::string& code) { throw JsError(ErrKind::Range, msg, code); }
void ThrowPlain(const std::string& msg, const std::string& code) { throw JsError(ErrKind::Plain, msg, code); }

namespace {

// c10 messages can span lines (notes, hints, internal assert boilerplate); keep the gist.
std::string Shorten(std::string msg) {
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  const size_t limit = 400;
  if (msg.size() > limit) msg = msg.substr(0, limit) + "…";
  return msg;
}

bool Matches(const std::string& msg, const char* pattern) {
  return std::regex_search(msg, std::regex(pattern, std::regex::icase));
}

JsError ByMessage(const std::string& msg);

JsError FromTorch(const c10::Error& e) {
  std::string msg = Shorten(e.what_without_backtrace());
  if (dynamic_cast<const c10::IndexError*>(&e)) return {ErrKind::Range, msg, "ERR_INDEX"};
  if (dynamic_cast<const c10::ValueError*>(&e)) return {ErrKind::Range, msg, "ERR_OUT_OF_RANGE"};
  if (dynamic_cast<const c10::TypeError*>(&e)) return {ErrKind::Type, msg, "ERR_DTYPE"};
  if (dynamic_cast<const c10::NotImplementedError*>(&e)) return {ErrKind::Plain, msg, "ERR_NOT_IMPLEMENTED"};
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e)) return {ErrKind::Plain, msg, "ERR_OUT_OF_MEMORY"};
  if (dynamic_cast<const c10::LinAlgError*>(&e)) return {ErrKind::Plain, msg, "ERR_LINALG"};
  return ByMessage(msg);
}

// Plain c10::Error (and the std::runtime_error some ATen headers throw): classify by subject.
JsError ByMessage(const std::string& msg) {
  if (Matches(msg, "can't allocate memory|out of memory")) return {ErrKind::Plain, msg, "ERR_OUT_OF_MEMORY"};
  if (Matches(msg, "expected .*device|same device|device type|cuda")) return {ErrKind::Plain, msg, "ERR_DEVICE"};
  if (Matches(msg, "scalar ?type|dtype|not implemented for|expected .*(float|double|long|half|bfloat)"))
    return {ErrKind::Type, msg, "ERR_DTYPE"};
  if (Matches(msg, "size|shape|dimension|dims?\\b|out of (range|bounds)|must match|broadcast|invalid|negative|numel|index|padding|kernel|stride|channels|groups"))
    return {ErrKind::Range, msg, "ERR_SHAPE"};
  return {ErrKind::Plain, msg, "ERR_TORCH"};
}

}  // namespace

JsError Classify(const std::exception_ptr& ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const JsError& e) {
    return e;
  } catch (const c10::Error& e) {
    return FromTorch(e);
  } catch (const std::bad_alloc&) {
    return {ErrKind::Plain, "out of memory", "ERR_OUT_OF_MEMORY"};
  } catch (const std::out_of_range& e) {
    return {ErrKind::Range, Shorten(e.what()), "ERR_OUT_OF_RANGE"};
  } catch (const std::invalid_argument& e) {
    return {ErrKind::Range, Shorten(e.what()), "ERR_OUT_OF_RANGE"};
  } catch (const std::exception& e) {
    return ByMessage(Shorten(e.what()));
  } catch (...) {
    return {ErrKind::Plain, "unknown native error", "ERR_NATIVE"};
  }
}

Napi::Error ToJsError(Napi::Env env, const std::exception_ptr& ep) {
  JsError e = Classify(ep);
  Napi::Error err = e.kind == ErrKind::Type    ? Napi::TypeError::New(env, e.message)
                    : e.kind == ErrKind::Range ? Napi::RangeError::New(env, e.message)
                                               : Napi::Error::New(env, e.message);
  if (!e.code.empty()) err.Set("code", Napi::String::New(env, e.code));
  return err;
}

}  // namespace langevin
