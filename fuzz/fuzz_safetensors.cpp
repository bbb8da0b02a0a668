// Safetensors (core/io/safetensors.h, core/io/checkpoint.h). The input is a .safetensors file:
// SafetensorsFile::open validates the header and tensor table; every tensor's bytes are read,
// WeightStore::openFile hands each out as a tensor, and a file that opens is written back with
// writeSafetensors and must read back the same. The input is also tried as a checkpoint's
// model.safetensors.index.json next to two small valid shards (WeightStore::openDirectory).

#include "core/io/checkpoint.h"
#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "fuzz/support.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace engram;

namespace {

[[noreturn]] void mismatch(const std::string &what)
{
    std::fprintf(stderr, "fuzz_safetensors: written-back file differs: %s\n", what.c_str());
    std::abort();
}

uint64_t readAll(std::span<const std::byte> bytes)
{
    uint64_t h = 1469598103934665603ull;
    for (std::byte b : bytes)
        h = (h ^ std::to_integer<uint64_t>(b)) * 1099511628211ull;
    return h;
}

void roundTrip(const SafetensorsFile &file)
{
    std::vector<TensorSource> sources;
    for (const TensorInfo &info : file.tensors()) {
        const std::span<const std::byte> bytes = file.bytes(info);
        sources.push_back({info.name, info.dtype, info.shape,
            [bytes](std::function<void(const void *, std::size_t)> sink) { sink(bytes.data(), bytes.size()); }});
    }
    const auto path = fuzz::scratchDir() / "written.safetensors";
    writeSafetensors(path, std::move(sources), file.metadata());
    const auto again = SafetensorsFile::open(path);
    if (again->metadata() != file.metadata())
        mismatch("metadata");
    if (again->tensors().size() != file.tensors().size())
        mismatch("tensor count");
    for (const TensorInfo &info : file.tensors()) {
        const TensorInfo *other = again->find(info.name);
        if (!other)
            mismatch("tensor '" + info.name + "' missing");
        if (other->dtype != info.dtype || other->shape != info.shape || other->byteSize() != info.byteSize())
            mismatch("tensor '" + info.name + "' header");
        const auto a = file.bytes(info), b = again->bytes(*other);
        if (a.size() && std::memcmp(a.data(), b.data(), a.size()) != 0)
            mismatch("tensor '" + info.name + "' bytes");
    }
}

void touch(const at::Tensor &t)
{
    fuzz::consume(static_cast<uint64_t>(t.numel()) + t.dim() + static_cast<uint64_t>(t.nbytes()));
    if (t.nbytes() > 0) {
        const auto *p = static_cast<const unsigned char *>(t.data_ptr());
        fuzz::consume(p[0] + p[t.nbytes() - 1]);
    }
}

const std::filesystem::path &checkpointDir()
{
    // Two shards: "a.safetensors" with tensors x (F32 [2]) and y (I8 [3]), "b.safetensors" with z (BF16 [1, 2]).
    static const std::filesystem::path dir = [] {
        const auto d = fuzz::scratchDir() / "checkpoint";
        std::filesystem::create_directories(d);
        auto bytesOf = [](std::string s) {
            return [s](std::function<void(const void *, std::size_t)> sink) { sink(s.data(), s.size()); };
        };
        writeSafetensors(d / "a.safetensors",
            {{"x", DType::F32, {2}, bytesOf(std::string(8, '\1'))}, {"y", DType::I8, {3}, bytesOf("abc")}});
        writeSafetensors(d / "b.safetensors", {{"z", DType::BF16, {1, 2}, bytesOf(std::string("\0\x3f\0\x40", 4))}});
        return d;
    }();
    return dir;
}

} // namespace

static int testOne(const uint8_t *data, size_t size)
{
    const auto path = fuzz::writeScratch("input.safetensors", data, size);
    try {
        const auto file = SafetensorsFile::open(path);
        fuzz::consume(file->fileSize() + file->metadata().size());
        for (const TensorInfo &info : file->tensors()) {
            fuzz::consume(static_cast<uint64_t>(info.numel()) + (file->find(info.name) == &info));
            fuzz::consume(readAll(file->bytes(info)));
        }
        const WeightStore store = WeightStore::openFile(path);
        fuzz::consume(store.totalBytes());
        for (const std::string &name : store.names())
            touch(store.tensor(name));
        roundTrip(*file);
    } catch (const Error &) {
    }

    const auto &dir = checkpointDir();
    fuzz::writeScratch("checkpoint/model.safetensors.index.json", data, size);
    try {
        const WeightStore store = WeightStore::openDirectory(dir);
        for (const std::string &name : store.names()) {
            touch(store.tensor(name));
            fuzz::consume(store.shardOf(name).size() + store.info(name).byteSize());
        }
        fuzz::consume(store.shardFiles().size());
    } catch (const Error &) {
    }
    return 0;
}

ENGRAM_FUZZ_TARGET(testOne)
