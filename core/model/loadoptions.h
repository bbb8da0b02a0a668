#pragma once
// How a model is placed: device and dtype (plain strings, so callers need no torch headers).

#include <string>

namespace engram {

struct LoadOptions {
    std::string device = "cpu"; // "cpu", "cuda", "cuda:1"
    std::string dtype = "fp32"; // "fp32", "fp16", "bf16"
};

} // namespace engram
