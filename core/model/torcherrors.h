#pragma once
// Translation of LibTorch failures (c10::Error, with a long backtrace) into engram::Error
// with a one-line message, at the boundaries that torch-free callers (CLI, UI) reach.
// Include from core .cpp files only.

#include "core/util/error.h"

#include <c10/util/Exception.h>

#include <string>

namespace engram {

template<typename F>
auto translateTorchErrors(const char *what, F &&f)
{
    try {
        return f();
    } catch (const c10::Error &e) {
        throw Error(ErrorKind::Runtime, std::string(what) + " failed: " + e.what_without_backtrace());
    }
}

} // namespace engram
