// NumPy statistics (core/io/npz.h). An input that starts like a zip archive ("PK") is written
// to a file and read with readNpz (every entry, then only the two MEMIT statistics arrays);
// any other input is one .npy image for parseNpy. The arrays returned are read to the end.

#include "core/io/npz.h"
#include "core/util/error.h"
#include "fuzz/support.h"

#include <string>

using namespace engram;

namespace {

void touch(const at::Tensor &t)
{
    fuzz::consume(static_cast<uint64_t>(t.numel()) + t.dim() + static_cast<uint64_t>(t.nbytes()));
    if (t.nbytes() > 0) {
        const auto *p = static_cast<const unsigned char *>(t.data_ptr());
        fuzz::consume(p[0] + p[t.nbytes() - 1]);
    }
}

} // namespace

static int testOne(const uint8_t *data, size_t size)
{
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        const auto path = fuzz::writeScratch("input.npz", data, size);
        try {
            for (const auto &[name, t] : readNpz(path))
                touch(t);
        } catch (const Error &) {
        }
        try {
            for (const auto &[name, t] : readNpz(path, {"mom2.mom2", "mom2.count"}))
                touch(t);
        } catch (const Error &) {
        }
    } else {
        try {
            touch(parseNpy(std::string(reinterpret_cast<const char *>(data), size), "fuzz.npy"));
        } catch (const Error &) {
        }
    }
    return 0;
}

ENGRAM_FUZZ_TARGET(testOne)
