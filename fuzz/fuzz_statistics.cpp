// Stored second-moment statistics (core/edit/statisticsfiles.h, covariance.h): the headers-only
// check statisticsFileLayers and the full loadStatistics. An input that starts like a zip
// archive ("PK") is a published MEMIT/ROME .npz file (named as the reference names them, so
// the layer comes from the name; also read with an explicit layer); any other input is one of
// our .safetensors statistics files.

#include "core/edit/covariance.h"
#include "core/util/error.h"
#include "fuzz/support.h"

using namespace engram;

namespace {

void consumeMoments(const std::vector<SecondMoment> &moments)
{
    for (const SecondMoment &s : moments)
        fuzz::consume(static_cast<uint64_t>(s.layer) + static_cast<uint64_t>(s.count)
            + static_cast<uint64_t>(s.sum.numel()));
}

} // namespace

static int testOne(const uint8_t *data, size_t size)
{
    const bool npz = size >= 2 && data[0] == 'P' && data[1] == 'K';
    const auto path = fuzz::writeScratch(
        npz ? "transformer.h.3.mlp.c_proj_float32_mom2_100.npz" : "stats.safetensors", data, size);
    try {
        for (int layer : statisticsFileLayers({path}))
            fuzz::consume(static_cast<uint64_t>(layer));
    } catch (const Error &) {
    }
    try {
        consumeMoments(loadStatistics({path}));
    } catch (const Error &) {
    }
    if (npz) {
        try {
            consumeMoments({loadPublishedStatistics(path, 7)});
        } catch (const Error &) {
        }
    }
    return 0;
}

ENGRAM_FUZZ_TARGET(testOne)
