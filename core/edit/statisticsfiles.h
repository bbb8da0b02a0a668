#pragma once
// What covariance-statistics files hold, read without loading their matrices and without
// torch types, so the GUI can check a choice of files before it starts a job.

#include <filesystem>
#include <vector>

namespace engram {

/// The layers that statistics files cover, sorted (a layer given twice appears twice): our
/// .safetensors files from their header, published .npz files from their names. Cheap even
/// for multi-gigabyte files. Throws engram::Error for missing, unreadable or foreign files.
std::vector<int> statisticsFileLayers(const std::vector<std::filesystem::path> &paths);

} // namespace engram
