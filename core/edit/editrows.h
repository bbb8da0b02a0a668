#pragma once
// Internal helpers shared by the editing methods (MEMIT, ROME, fine-tuning): prompt rows with
// their subject-lookup index, batched reads of an intervention site at those indices, request
// checks. Not part of the public API (include from core/edit .cpp files only).

#include "core/edit/editparams.h"
#include "core/model/batching.h"
#include "core/model/interventions.h"

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace engram {

class Transformer;

namespace editrows {

constexpr int64_t kRowsPerBatch = 256;

struct Row {
    std::vector<int64_t> ids;
    int64_t lookup = 0; // subject-last index
    int64_t fact = 0;
};

/// " " + s unless s starts with a space (memit-spec §2.1).
std::string withLeadingSpace(const std::string &s);
/// "{}" in a context template replaced by the (still unfilled) prompt template.
std::string nestTemplate(const std::string &context, const std::string &promptTemplate);
PaddedBatch padRows(const std::vector<Row> &rows, std::size_t begin, std::size_t end);
/// Reads `site` of `layer` at each row's lookup position, in row batches: one [rows, width]
/// float32 tensor per requested site.
std::vector<at::Tensor> readAtLookups(
    const Transformer &model, const std::vector<Row> &rows, const std::vector<std::pair<Site, int>> &sites);
/// The MLP output weight of `layer` in mathematical orientation [d, d_k] (float64, CPU).
at::Tensor mlpOutputMatrix(const Transformer &model, int layer);
/// Writes W ← W + ΔW for a [d, d_k] update, in the weight's stored orientation (Conv1D [d_k, d]
/// or Linear [d, d_k]); returns the stored-orientation float32 delta.
at::Tensor addToMlpOutput(Transformer &model, int layer, const at::Tensor &mathDelta);
/// Throws engram::Error(InvalidArgument) for an empty list, an empty target or a bad template.
void checkRequests(const std::vector<EditRequest> &requests);

} // namespace editrows
} // namespace engram
