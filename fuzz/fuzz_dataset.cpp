// Dataset files (core/data/datasets.h): the input is written as a .json and as a .csv file and
// imported (the format is detected from the extension and the first record), with and without
// a record limit. The edit requests that import (records with a new target) are exported as
// CounterFact JSON and as CSV and imported again: exportDataset's files must read back whole.

#include "core/data/datasets.h"
#include "core/util/error.h"
#include "fuzz/support.h"

#include <cstdio>
#include <cstdlib>

using namespace engram;

namespace {

void consumeRecords(const Dataset &d)
{
    fuzz::consume(d.records.size() + d.rejected.size() + static_cast<uint64_t>(d.format));
    for (const EvalRecord &r : d.records)
        fuzz::consume(r.prompt().size() + r.paraphrasePrompts.size() + r.neighborhoodPrompts.size());
    for (const RejectedRecord &r : d.rejected)
        fuzz::consume(r.field.size() + r.reason.size() + static_cast<uint64_t>(r.index));
}

void roundTrip(const Dataset &imported, const char *extension)
{
    Dataset d;
    for (const EvalRecord &r : imported.records)
        if (!r.targetNew.empty())
            d.records.push_back(r);
    if (d.records.empty())
        return;
    const auto path = fuzz::scratchDir() / (std::string("exported") + extension);
    exportDataset(d.records, path);
    Dataset again;
    try {
        again = importDataset(path);
    } catch (const Error &e) {
        std::fprintf(stderr, "fuzz_dataset: exportDataset wrote a %s file importDataset refuses: %s\n", extension,
            e.what());
        std::abort();
    }
    if (again.records.size() != d.records.size()) {
        std::fprintf(stderr, "fuzz_dataset: %zu records exported to %s, %zu read back (%zu rejected%s%s)\n",
            d.records.size(), extension, again.records.size(), again.rejected.size(),
            again.rejected.empty() ? "" : ": ", again.rejected.empty() ? "" : again.rejected[0].reason.c_str());
        std::abort();
    }
}

} // namespace

static int testOne(const uint8_t *data, size_t size)
{
    for (const char *extension : {".json", ".csv"}) {
        const auto path = fuzz::writeScratch(std::string("input") + extension, data, size);
        try {
            const Dataset all = importDataset(path);
            consumeRecords(all);
            consumeRecords(importDataset(path, 1));
            roundTrip(all, ".json");
            roundTrip(all, ".csv");
        } catch (const Error &) {
        }
    }
    return 0;
}

ENGRAM_FUZZ_TARGET(testOne)
