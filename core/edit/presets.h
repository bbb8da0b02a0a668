#pragma once
// Hyperparameter presets per model: the published MEMIT/ROME values where a published file
// exists for the architecture and size (memit-spec §6, ../shared/fixtures/hparams), values
// chosen by measurement for the embedded demo, and a depth-scaled starting point otherwise.
// Torch-free: the CLI and the UI fill their forms from it.

#include "core/edit/editmethod.h"
#include "core/edit/editparams.h"
#include "core/model/modelconfig.h"

#include <filesystem>
#include <string>

namespace engram {

struct EditPreset {
    std::string name; // e.g. "GPT-J 6B (published)", "demo (measured)", "scaled for 12 layers"
    std::string source; // where the numbers come from, one line
    MemitParams memit;
    /// AlphaEdit: MEMIT's values with the published null-space threshold (2e-2) and α (10), and
    /// earlier runs kept as memories; the demo's threshold is measured (README, Sequential editing).
    MemitParams alphaEdit;
    RomeParams rome;
    FineTuneParams fineTune;

    /// `method` with this preset's parameters for it.
    EditConfig configFor(EditMethod method) const;
};

/// The preset for a model of `family` with `layers` blocks and hidden size `hidden`.
EditPreset editPresetFor(ModelFamily family, int layers, int hidden);

/// The preset for the checkpoint in `dir`, from its config.json alone (no weights, no
/// tokenizer: cheap enough for the GUI thread). Throws engram::Error for a bad config.
EditPreset editPresetForCheckpoint(const std::filesystem::path &dir);

} // namespace engram
