// Weight-patch files (core/edit/weightpatch.h): WeightPatch::load reads a safetensors file whose
// metadata names the format, version, base hashes, relative norms and provenance, and one
// "delta.<name>" tensor per patched parameter. A patch that loads is saved and loaded again.

#include "core/edit/weightpatch.h"
#include "core/util/error.h"
#include "fuzz/support.h"

#include <cstdio>
#include <cstdlib>

using namespace engram;

static int testOne(const uint8_t *data, size_t size)
{
    const auto path = fuzz::writeScratch("input.safetensors", data, size);
    try {
        const WeightPatch patch = WeightPatch::load(path);
        fuzz::consume(patch.provenanceJson.size());
        for (const TensorDelta &d : patch.deltas)
            fuzz::consume(d.name.size() + d.baseHash.size() + static_cast<uint64_t>(d.delta.numel()));
        const auto again = fuzz::scratchDir() / "saved.safetensors";
        patch.save(again);
        const WeightPatch reloaded = WeightPatch::load(again);
        if (reloaded.deltas.size() != patch.deltas.size()) {
            std::fprintf(stderr, "fuzz_patch: saved %zu deltas, loaded %zu\n", patch.deltas.size(),
                reloaded.deltas.size());
            std::abort();
        }
    } catch (const Error &) {
    }
    return 0;
}

ENGRAM_FUZZ_TARGET(testOne)
