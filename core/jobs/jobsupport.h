#pragma once
// What the project jobs (core/jobs/*job*.cpp) share and no front end needs: selecting facts,
// opening the project's base model, and converting patches between their stored form and
// WeightPatch. Internal to core/jobs; the public API is projectjobs.h.

#include "core/edit/editparams.h"
#include "core/jobs/job.h"
#include "core/model/loadoptions.h"
#include "core/project/project.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace engram {

class ModelSession;
class Transformer;
class WeightPatch;

double secondsSince(std::chrono::steady_clock::time_point t);

/// Where checkpoint content hashes are memoised (beside the statistics cache).
std::filesystem::path hashMemoDir();

/// A patch as the project stores it (float32 deltas), back as a WeightPatch with `provenance`.
WeightPatch toWeightPatch(const std::vector<StoredDelta> &stored, const std::string &provenance);
std::vector<StoredDelta> toStored(const WeightPatch &patch);

/// The facts `ids` names (Error naming a missing one); empty ids: every enabled fact no applied
/// run has edited.
std::vector<Fact> selectFacts(const Project &project, const std::vector<int64_t> &ids);

/// The edit request a fact asks for.
EditRequest editRequestOf(const Fact &fact);

/// The MLP output weights of `layers`.
std::vector<std::string> editedWeightNames(const Transformer &model, const std::vector<int> &layers);

/// The tensors Engram edits: every MLP output weight, plus any tensor a stored patch names.
std::set<std::string> stateTensorNames(const Transformer &model, const Project &project);

/// The project's checkpoint, unedited, after checking its content hash against the project's.
std::unique_ptr<ModelSession> openBaseModel(const Project &project, const LoadOptions &load, JobContext &context);

} // namespace engram
