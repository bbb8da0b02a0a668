#include "core/io/checkpoint.h"

#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstring>

namespace engram {

c10::ScalarType toScalarType(DType dtype)
{
    switch (dtype) {
    case DType::F64:
        return at::kDouble;
    case DType::F32:
        return at::kFloat;
    case DType::F16:
        return at::kHalf;
    case DType::BF16:
        return at::kBFloat16;
    case DType::I64:
        return at::kLong;
    case DType::I32:
        return at::kInt;
    case DType::I16:
        return at::kShort;
    case DType::I8:
        return at::kChar;
    case DType::U8:
        return at::kByte;
    case DType::Bool:
        return at::kBool;
    }
    throw Error(ErrorKind::DTypeMismatch, "unknown dtype");
}

DType fromScalarType(c10::ScalarType type)
{
    switch (type) {
    case at::kDouble:
        return DType::F64;
    case at::kFloat:
        return DType::F32;
    case at::kHalf:
        return DType::F16;
    case at::kBFloat16:
        return DType::BF16;
    case at::kLong:
        return DType::I64;
    case at::kInt:
        return DType::I32;
    case at::kShort:
        return DType::I16;
    case at::kChar:
        return DType::I8;
    case at::kByte:
        return DType::U8;
    case at::kBool:
        return DType::Bool;
    default:
        break;
    }
    throw Error(ErrorKind::DTypeMismatch,
        std::string("tensor type ") + c10::toString(type) + " cannot be stored in safetensors");
}

TensorSource tensorSource(const std::string &name, const at::Tensor &tensor)
{
    TensorSource src;
    src.name = name;
    src.dtype = fromScalarType(tensor.scalar_type());
    src.shape = tensor.sizes().vec();
    at::Tensor t = tensor;
    src.write = [t](std::function<void(const void *, std::size_t)> sink) {
        const at::Tensor c = t.device().is_cpu() ? t.contiguous() : t.to(at::kCPU).contiguous();
        sink(c.data_ptr(), static_cast<std::size_t>(c.nbytes()));
    };
    return src;
}

WeightStore WeightStore::openFile(const std::filesystem::path &file)
{
    WeightStore store;
    store.m_location = file;
    auto st = SafetensorsFile::open(file);
    store.m_files.push_back(st);
    const std::string shard = file.filename().string();
    store.m_shardNames.push_back(shard);
    for (const auto &info : st->tensors())
        store.m_entries[info.name] = Entry {st, &info, shard};
    return store;
}

WeightStore WeightStore::openDirectory(const std::filesystem::path &dir)
{
    const auto single = dir / "model.safetensors";
    const auto index = dir / "model.safetensors.index.json";
    if (std::filesystem::exists(single)) {
        WeightStore store = openFile(single);
        store.m_location = dir;
        return store;
    }
    if (!std::filesystem::exists(index)) {
        const bool hasBin = std::filesystem::exists(dir / "pytorch_model.bin")
            || std::filesystem::exists(dir / "pytorch_model.bin.index.json");
        throw Error(ErrorKind::Io,
            "no model.safetensors or model.safetensors.index.json in " + dir.string()
                + (hasBin ? " (only PyTorch .bin weights found; convert them to safetensors "
                            "with transformers' save_pretrained(safe_serialization=True))"
                          : ""));
    }
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(readTextFile(index));
    } catch (const nlohmann::json::exception &e) { // parse_error; out_of_range for numbers beyond double
        throw Error(ErrorKind::CorruptFile, index.string() + " is not valid JSON: " + jsonErrorText(e));
    }
    if (!json.is_object() || !json.contains("weight_map") || !json["weight_map"].is_object())
        throw Error(ErrorKind::CorruptFile, index.string() + " has no \"weight_map\" object");

    WeightStore store;
    store.m_location = dir;
    std::map<std::string, std::shared_ptr<const SafetensorsFile>> opened;
    for (auto it = json["weight_map"].begin(); it != json["weight_map"].end(); ++it) {
        if (!it.value().is_string())
            throw Error(ErrorKind::CorruptFile, index.string() + ": shard for '" + it.key() + "' is not a string");
        const auto shard = it.value().get<std::string>();
        if (shard.find('/') != std::string::npos || shard == ".." || shard.empty())
            throw Error(
                ErrorKind::CorruptFile, index.string() + ": shard name '" + shard + "' is not a plain file name");
        auto &file = opened[shard];
        if (!file) {
            file = SafetensorsFile::open(dir / shard);
            store.m_files.push_back(file);
            store.m_shardNames.push_back(shard);
        }
        const TensorInfo *info = file->find(it.key());
        if (!info)
            throw Error(ErrorKind::MissingTensor,
                index.string() + " lists tensor '" + it.key() + "' in " + shard
                    + ", but that shard does not contain it");
        store.m_entries[it.key()] = Entry {file, info, shard};
    }
    return store;
}

bool WeightStore::contains(const std::string &name) const
{
    return m_entries.count(name) != 0;
}

const TensorInfo &WeightStore::info(const std::string &name) const
{
    const auto it = m_entries.find(name);
    if (it == m_entries.end())
        throw Error(ErrorKind::MissingTensor, "tensor '" + name + "' is missing from " + m_location.string());
    return *it->second.info;
}

at::Tensor WeightStore::tensor(const std::string &name) const
{
    const auto it = m_entries.find(name);
    if (it == m_entries.end())
        throw Error(ErrorKind::MissingTensor, "tensor '" + name + "' is missing from " + m_location.string());
    const Entry &e = it->second;
    const auto options = at::TensorOptions().dtype(toScalarType(e.info->dtype)).device(at::kCPU);
    void *data = e.file->mutableData(*e.info);
    if (e.info->byteSize() == 0)
        return at::empty(e.info->shape, options);
    const auto align = dtypeSize(e.info->dtype);
    if (reinterpret_cast<uintptr_t>(data) % align != 0) {
        // Misaligned data (legal in the format): copy into an aligned buffer.
        at::Tensor out = at::empty(e.info->shape, options);
        std::memcpy(out.data_ptr(), data, e.info->byteSize());
        return out;
    }
    auto keepAlive = e.file;
    return at::from_blob(
        data, e.info->shape, [keepAlive](void *) {}, options);
}

std::vector<std::string> WeightStore::names() const
{
    std::vector<std::string> out;
    out.reserve(m_entries.size());
    for (const auto &[name, _] : m_entries)
        out.push_back(name);
    return out;
}

std::vector<std::string> WeightStore::shardFiles() const
{
    return m_shardNames;
}

std::string WeightStore::shardOf(const std::string &name) const
{
    const auto it = m_entries.find(name);
    return it == m_entries.end() ? std::string() : it->second.shard;
}

uint64_t WeightStore::totalBytes() const
{
    uint64_t total = 0;
    for (const auto &[_, e] : m_entries)
        total += e.info->byteSize();
    return total;
}

} // namespace engram
