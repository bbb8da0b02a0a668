// config.json -> ModelConfig (core/model/modelconfig.h). On success the derived values are
// used as a loader would, and the config is written back and read again: what toJson() writes,
// fromJson() must accept.

#include "core/model/modelconfig.h"
#include "core/util/error.h"
#include "fuzz/support.h"

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace engram;

static int testOne(const uint8_t *data, size_t size)
{
    const std::string text(reinterpret_cast<const char *>(data), size);
    try {
        const ModelConfig c = ModelConfig::fromJson(text, "fuzz/config.json");
        fuzz::consume(static_cast<uint64_t>(c.parameterCount()));
        fuzz::consume(std::string(familyName(c.family)).size());
        const std::string written = c.toJson();
        try {
            const ModelConfig again = ModelConfig::fromJson(written, "fuzz/config.json (written back)");
            fuzz::consume(static_cast<uint64_t>(again.parameterCount()));
        } catch (const Error &e) {
            std::fprintf(stderr, "fuzz_modelconfig: toJson() wrote a config fromJson() refuses: %s\n%s\n", e.what(),
                written.c_str());
            std::abort();
        }
    } catch (const Error &) {
    }
    return 0;
}

ENGRAM_FUZZ_TARGET(testOne)
