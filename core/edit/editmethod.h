#pragma once
// The editing method as a type: which method, with its parameters, and the one JSON shape
// those parameters are recorded in (run records, patch provenance). Torch-free: the CLI and
// the UI build and read it.

#include "core/edit/editparams.h"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace engram {

enum class EditMethod {
    Memit, // MEMIT, every fact in one batch over several layers
    AlphaEdit, // MEMIT's targets and keys, the update projected onto the statistics' null space
    Rome, // ROME, one fact after another at one layer
    RRome, // ROME with the consistent key ("Rebuilding ROME")
    FineTune, // FT-W, the constrained fine-tuning baseline
};

inline constexpr std::array<EditMethod, 5> kEditMethods {
    EditMethod::Memit, EditMethod::AlphaEdit, EditMethod::Rome, EditMethod::RRome, EditMethod::FineTune};

/// MEMIT and AlphaEdit: the methods that take MemitParams.
inline constexpr bool usesMemitParams(EditMethod m)
{
    return m == EditMethod::Memit || m == EditMethod::AlphaEdit;
}

/// "memit", "alphaedit", "rome", "r-rome", "ftw": the name used on the command line and in records.
std::string_view editMethodName(EditMethod method);
/// "MEMIT", "AlphaEdit", "ROME", "r-ROME", "FT-W": the name shown to a person.
std::string_view editMethodLabel(EditMethod method);
/// The method named `name` ("ft-w" is accepted for FT-W, as older patches record it).
std::optional<EditMethod> parseEditMethod(std::string_view name);
/// As parseEditMethod, or Error(InvalidArgument) naming the accepted names.
EditMethod requireEditMethod(std::string_view name);
/// "memit, alphaedit, rome, r-rome, ftw".
std::string editMethodNames();

/// The parameters of one method. Rome and RRome share RomeParams (consistentKey tells them
/// apart); Memit and AlphaEdit share MemitParams (nullSpace does).
using MethodParams = std::variant<MemitParams, RomeParams, FineTuneParams>;

/// A method with its parameters, consistent by construction (see make()).
class EditConfig
{
public:
    EditConfig() = default; // MEMIT with MemitParams' defaults

    /// `method` with `params`, which must be the method's type (RomeParams for both ROME
    /// variants, consistentKey set from the method; MemitParams for MEMIT and AlphaEdit,
    /// nullSpace set from the method). Error(InvalidArgument) otherwise.
    static EditConfig make(EditMethod method, MethodParams params);

    EditMethod method() const { return m_method; }
    const MethodParams &params() const { return m_params; }

    /// The method's parameters; Error(InvalidArgument) when the method has another type.
    const MemitParams &memit() const;
    MemitParams &memit();
    const RomeParams &rome() const;
    RomeParams &rome();
    const FineTuneParams &fineTune() const;
    FineTuneParams &fineTune();

    /// Layers whose MLP output weight the edit changes.
    std::vector<int> editedLayers() const;
    /// Layers whose covariance statistics the edit needs (empty for FT-W).
    std::vector<int> statisticsLayers() const;
    bool needsStatistics() const { return m_method != EditMethod::FineTune; }
    /// The seed recorded with a run (context templates); 0 for FT-W.
    uint64_t seed() const;

    /// The parameters as one JSON object (snake_case keys, the shape run records and patch
    /// provenance share). The method is not in it: records store it beside.
    std::string paramsJson() const;
    /// The same object, for records that add fields beside the parameters.
    nlohmann::json paramsObject() const;
    /// Reads what paramsJson wrote (unknown keys are ignored, missing ones keep the defaults).
    /// Error(CorruptFile) when `json` is not an object or a value has the wrong type.
    static EditConfig fromJson(EditMethod method, const std::string &json);

private:
    EditMethod m_method = EditMethod::Memit;
    MethodParams m_params = MemitParams {};
};

} // namespace engram
