#include "core/model/transformer.h"

#include "core/io/checkpoint.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <map>

namespace engram {
namespace {

std::string shapeText(at::IntArrayRef shape)
{
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

struct Linear {
    at::Tensor weight; // Linear: [out, in]; Conv1D: [in, out]
    at::Tensor bias; // [out] or undefined
    bool conv1d = false;

    at::Tensor operator()(const at::Tensor &x) const
    {
        if (conv1d) {
            at::Tensor y = at::matmul(x, weight);
            return bias.defined() ? y + bias : y;
        }
        return at::linear(x, weight, bias);
    }
};

struct Norm {
    at::Tensor weight, bias;
};

struct Block {
    Norm ln1, ln2;
    Linear qkv; // fused (GPT-2 c_attn, NeoX query_key_value)
    Linear q, k, v; // separate (GPT-J, Llama)
    Linear o;
    Linear fcIn, gate, up, fcOut;
};

} // namespace

struct Transformer::Impl {
    at::Device device = at::kCPU;
    c10::ScalarType dtype = at::kFloat;
    at::Tensor wte, wpe;
    Norm lnF;
    Linear head; // weight may alias wte
    std::vector<Block> blocks;
    std::vector<std::pair<std::string, at::Tensor *>> named;
    at::Tensor invFreq; // [rotaryDim / 2] float32 on device
};

c10::ScalarType parseDTypeName(const std::string &name)
{
    if (name == "fp32" || name == "float32" || name == "float")
        return at::kFloat;
    if (name == "fp16" || name == "float16" || name == "half")
        return at::kHalf;
    if (name == "bf16" || name == "bfloat16")
        return at::kBFloat16;
    throw Error(ErrorKind::InvalidArgument, "unknown dtype '" + name + "' (use fp32, fp16 or bf16)");
}

at::Device parseDevice(const std::string &name)
{
    if (name == "cpu")
        return at::kCPU;
    if (name.rfind("cuda", 0) == 0) {
        if (!at::hasCUDA())
            throw Error(ErrorKind::Unsupported,
                "device '" + name + "' requested, but this build of LibTorch has no CUDA (or no GPU is visible)");
        try {
            return at::Device(name);
        } catch (const c10::Error &) {
            throw Error(ErrorKind::InvalidArgument, "invalid device '" + name + "' (use cpu, cuda or cuda:N)");
        }
    }
    throw Error(ErrorKind::InvalidArgument, "invalid device '" + name + "' (use cpu, cuda or cuda:N)");
}

Transformer::Transformer(ModelConfig config)
    : m_config(std::move(config))
    , d(std::make_unique<Impl>())
{
}

Transformer::~Transformer() = default;

at::Device Transformer::device() const
{
    return d->device;
}
c10::ScalarType Transformer::dtype() const
{
    return d->dtype;
}

std::string Transformer::mlpOutputWeightName(int layer) const
{
    const auto i = std::to_string(layer);
    switch (m_config.family) {
    case ModelFamily::Gpt2:
        return "transformer.h." + i + ".mlp.c_proj.weight";
    case ModelFamily::GptJ:
        return "transformer.h." + i + ".mlp.fc_out.weight";
    case ModelFamily::GptNeoX:
        return "gpt_neox.layers." + i + ".mlp.dense_4h_to_h.weight";
    case ModelFamily::Llama:
        return "model.layers." + i + ".mlp.down_proj.weight";
    }
    return {};
}

namespace {

// Binds every HF parameter name of the family to a slot in Impl, with its expected shape.
struct Binding {
    std::string name;
    std::vector<int64_t> shape;
    at::Tensor *slot;
};

std::vector<Binding> bindings(const ModelConfig &c, Transformer::Impl *m)
{
    const int64_t D = c.hiddenSize, V = c.vocabSize, K = c.intermediateSize, hd = c.headDim;
    const int64_t qOut = c.numHeads * hd, kvOut = c.numKvHeads * hd;
    std::vector<Binding> b;
    auto add = [&](std::string name, std::vector<int64_t> shape, at::Tensor *slot) {
        b.push_back({std::move(name), std::move(shape), slot});
    };
    auto linear = [&](const std::string &name, int64_t out, int64_t in, Linear &l, bool bias, bool conv1d = false) {
        l.conv1d = conv1d;
        add(name + ".weight", conv1d ? std::vector<int64_t> {in, out} : std::vector<int64_t> {out, in}, &l.weight);
        if (bias)
            add(name + ".bias", {out}, &l.bias);
    };
    auto norm = [&](const std::string &name, Norm &n, bool bias) {
        add(name + ".weight", {D}, &n.weight);
        if (bias)
            add(name + ".bias", {D}, &n.bias);
    };
    m->blocks.resize(c.numLayers);
    switch (c.family) {
    case ModelFamily::Gpt2:
        add("transformer.wte.weight", {V, D}, &m->wte);
        add("transformer.wpe.weight", {c.maxPositions, D}, &m->wpe);
        for (int i = 0; i < c.numLayers; ++i) {
            const std::string p = "transformer.h." + std::to_string(i) + ".";
            Block &blk = m->blocks[i];
            norm(p + "ln_1", blk.ln1, true);
            linear(p + "attn.c_attn", 3 * D, D, blk.qkv, true, true);
            linear(p + "attn.c_proj", D, D, blk.o, true, true);
            norm(p + "ln_2", blk.ln2, true);
            linear(p + "mlp.c_fc", K, D, blk.fcIn, true, true);
            linear(p + "mlp.c_proj", D, K, blk.fcOut, true, true);
        }
        norm("transformer.ln_f", m->lnF, true);
        if (!c.tieWordEmbeddings)
            linear("lm_head", V, D, m->head, false);
        break;
    case ModelFamily::GptJ:
        add("transformer.wte.weight", {V, D}, &m->wte);
        for (int i = 0; i < c.numLayers; ++i) {
            const std::string p = "transformer.h." + std::to_string(i) + ".";
            Block &blk = m->blocks[i];
            norm(p + "ln_1", blk.ln1, true);
            linear(p + "attn.q_proj", qOut, D, blk.q, false);
            linear(p + "attn.k_proj", kvOut, D, blk.k, false);
            linear(p + "attn.v_proj", kvOut, D, blk.v, false);
            linear(p + "attn.out_proj", D, qOut, blk.o, false);
            linear(p + "mlp.fc_in", K, D, blk.fcIn, true);
            linear(p + "mlp.fc_out", D, K, blk.fcOut, true);
        }
        norm("transformer.ln_f", m->lnF, true);
        if (!c.tieWordEmbeddings)
            linear("lm_head", V, D, m->head, c.lmHeadBias);
        break;
    case ModelFamily::GptNeoX:
        add("gpt_neox.embed_in.weight", {V, D}, &m->wte);
        for (int i = 0; i < c.numLayers; ++i) {
            const std::string p = "gpt_neox.layers." + std::to_string(i) + ".";
            Block &blk = m->blocks[i];
            norm(p + "input_layernorm", blk.ln1, true);
            norm(p + "post_attention_layernorm", blk.ln2, true);
            linear(p + "attention.query_key_value", 3 * D, D, blk.qkv, c.attentionBias);
            linear(p + "attention.dense", D, D, blk.o, c.attentionOutBias);
            linear(p + "mlp.dense_h_to_4h", K, D, blk.fcIn, true);
            linear(p + "mlp.dense_4h_to_h", D, K, blk.fcOut, true);
        }
        norm("gpt_neox.final_layer_norm", m->lnF, true);
        if (!c.tieWordEmbeddings)
            linear("embed_out", V, D, m->head, false);
        break;
    case ModelFamily::Llama:
        add("model.embed_tokens.weight", {V, D}, &m->wte);
        for (int i = 0; i < c.numLayers; ++i) {
            const std::string p = "model.layers." + std::to_string(i) + ".";
            Block &blk = m->blocks[i];
            norm(p + "input_layernorm", blk.ln1, false);
            linear(p + "self_attn.q_proj", qOut, D, blk.q, c.attentionBias);
            linear(p + "self_attn.k_proj", kvOut, D, blk.k, c.attentionBias);
            linear(p + "self_attn.v_proj", kvOut, D, blk.v, c.attentionBias);
            linear(p + "self_attn.o_proj", D, qOut, blk.o, c.attentionOutBias);
            norm(p + "post_attention_layernorm", blk.ln2, false);
            linear(p + "mlp.gate_proj", K, D, blk.gate, c.mlpBias);
            linear(p + "mlp.up_proj", K, D, blk.up, c.mlpBias);
            linear(p + "mlp.down_proj", D, K, blk.fcOut, c.mlpBias);
        }
        norm("model.norm", m->lnF, false);
        if (!c.tieWordEmbeddings)
            linear("lm_head", V, D, m->head, false);
        break;
    }
    return b;
}

// GPT-2 checkpoints saved from GPT2Model (e.g. the original "gpt2" repository) lack the
// "transformer." prefix; tied checkpoints sometimes carry a redundant lm_head.weight.
std::string resolveName(const WeightStore &w, const ModelConfig &c, const std::string &name)
{
    if (w.contains(name))
        return name;
    if (c.family == ModelFamily::Gpt2 && name.rfind("transformer.", 0) == 0) {
        const std::string bare = name.substr(12);
        if (w.contains(bare))
            return bare;
    }
    return name;
}

at::Tensor rmsNorm(const at::Tensor &x, const Norm &n, double eps)
{
    const at::Tensor xf = x.to(at::kFloat);
    const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return n.weight * normed.to(x.scalar_type());
}

at::Tensor applyNorm(const ModelConfig &c, const Norm &n, const at::Tensor &x)
{
    if (c.norm == NormKind::RmsNorm)
        return rmsNorm(x, n, c.normEps);
    return at::layer_norm(x, {x.size(-1)}, n.weight, n.bias, c.normEps);
}

at::Tensor activate(Activation a, const at::Tensor &x)
{
    switch (a) {
    case Activation::GeluNew:
    case Activation::GeluFast:
        return at::gelu(x, "tanh");
    case Activation::Gelu:
        return at::gelu(x);
    case Activation::Relu:
        return at::relu(x);
    case Activation::Silu:
        return at::silu(x);
    }
    return x;
}

at::Tensor rotateHalf(const at::Tensor &x)
{
    const int64_t h = x.size(-1) / 2;
    return at::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

at::Tensor rotateEveryTwo(const at::Tensor &x)
{
    // (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)
    const auto sizes = x.sizes().vec();
    at::Tensor pairs = x.reshape({-1, x.size(-1) / 2, 2});
    at::Tensor rotated = at::stack({-pairs.select(-1, 1), pairs.select(-1, 0)}, -1);
    return rotated.reshape(sizes);
}

// x: [B, H, T, hd]; cos/sin: [B, 1, T, rotaryDim] in x's dtype.
at::Tensor applyRotary(const ModelConfig &c, const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin)
{
    const int64_t r = c.rotaryDim;
    at::Tensor rot = x.narrow(-1, 0, r);
    rot = rot * cos + (c.positions == PositionScheme::RotaryHalf ? rotateHalf(rot) : rotateEveryTwo(rot)) * sin;
    if (r == x.size(-1))
        return rot;
    return at::cat({rot, x.narrow(-1, r, x.size(-1) - r)}, -1);
}

at::Tensor inverseFrequencies(const ModelConfig &c)
{
    const int64_t half = c.rotaryDim / 2;
    std::vector<double> inv(half);
    for (int64_t i = 0; i < half; ++i)
        inv[i] = 1.0 / std::pow(c.ropeTheta, (2.0 * i) / c.rotaryDim);
    if (c.ropeScaling.type == RopeScaling::Type::Llama3) {
        const auto &s = c.ropeScaling;
        const double lowWave = s.originalMaxPositions / s.lowFreqFactor;
        const double highWave = s.originalMaxPositions / s.highFreqFactor;
        for (auto &f : inv) {
            const double wave = 2.0 * M_PI / f;
            if (wave > lowWave) {
                f /= s.factor;
            } else if (wave >= highWave) {
                const double smooth
                    = (s.originalMaxPositions / wave - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
                f = (1.0 - smooth) * f / s.factor + smooth * f;
            }
        }
    }
    std::vector<float> out(inv.begin(), inv.end());
    return at::tensor(out, at::TensorOptions().dtype(at::kFloat));
}

} // namespace

std::vector<ParameterSpec> Transformer::parameterSpecs(const ModelConfig &config)
{
    Impl scratch;
    std::vector<ParameterSpec> specs;
    for (auto &b : bindings(config, &scratch))
        specs.push_back({b.name, b.shape});
    return specs;
}

std::unique_ptr<Transformer> Transformer::load(const std::filesystem::path &dir, const LoadOptions &options)
{
    const auto configPath = dir / "config.json";
    if (!std::filesystem::is_directory(dir))
        throw Error(ErrorKind::Io, "model directory " + dir.string() + " does not exist");
    if (!std::filesystem::exists(configPath))
        throw Error(ErrorKind::Io, "no config.json in " + dir.string() + "; is this a Hugging Face model directory?");
    const ModelConfig config = ModelConfig::fromFile(configPath);
    const WeightStore weights = WeightStore::openDirectory(dir);
    return fromWeights(config, weights, options);
}

std::unique_ptr<Transformer> Transformer::fromWeights(
    const ModelConfig &config, const WeightStore &weights, const LoadOptions &options)
{
    std::unique_ptr<Transformer> model(new Transformer(config));
    Impl &m = *model->d;
    m.device = parseDevice(options.device);
    m.dtype = parseDTypeName(options.dtype);
    if (m.device.is_cpu() && m.dtype == at::kHalf) {
        // Older CPU builds of LibTorch (1.13) have no fp16 matrix product; say so up front.
        try {
            at::mm(at::ones({2, 2}, at::kHalf), at::ones({2, 2}, at::kHalf));
        } catch (const c10::Error &) {
            throw Error(ErrorKind::Unsupported,
                "fp16 matrix products are not available on the CPU in this LibTorch "
                "build; use bf16 or fp32 on the CPU (fp16 works on CUDA)");
        }
    }
    const auto where = weights.location().string();
    // A config that names fewer layers than the weights hold would run a truncated model.
    for (const auto &name : weights.names()) {
        for (const char *marker : {".h.", ".layers."}) {
            const auto at = name.find(marker);
            if (at == std::string::npos)
                continue;
            const std::size_t digits = at + std::strlen(marker);
            std::size_t end = digits;
            while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end])))
                ++end;
            if (end == digits || end - digits > 6)
                continue;
            const int layer = std::stoi(name.substr(digits, end - digits));
            if (layer >= config.numLayers)
                throw Error(ErrorKind::InvalidConfig,
                    where + " holds tensor '" + name + "' of layer " + std::to_string(layer) + ", but config.json says "
                        + std::to_string(config.numLayers) + " layers; fix the layer count in config.json");
        }
    }

    for (auto &b : bindings(config, &m)) {
        const std::string name = resolveName(weights, config, b.name);
        if (!weights.contains(name)) {
            std::string hint;
            if (config.family == ModelFamily::Gpt2 && weights.contains("gpt_neox.embed_in.weight"))
                hint = " (the weights look like GPT-NeoX; check model_type in config.json)";
            throw Error(ErrorKind::MissingTensor,
                "tensor '" + b.name + "' required by the " + familyName(config.family)
                    + " architecture is missing from " + where + hint);
        }
        at::Tensor t = weights.tensor(name);
        if (t.sizes().vec() != b.shape) {
            std::string what = "tensor '" + b.name + "' in " + where + " has shape " + shapeText(t.sizes())
                + " but config.json implies " + shapeText(b.shape);
            if (b.slot == &m.wte)
                what += " (wrong vocab size: config.json says vocab_size=" + std::to_string(config.vocabSize)
                    + ", hidden size " + std::to_string(config.hiddenSize) + ")";
            throw Error(ErrorKind::ShapeMismatch, what);
        }
        if (!at::isFloatingType(t.scalar_type()))
            throw Error(ErrorKind::DTypeMismatch,
                "tensor '" + b.name + "' in " + where + " has non-float type " + c10::toString(t.scalar_type()));
        if (t.scalar_type() != m.dtype || m.device != at::kCPU)
            t = t.to(m.device, m.dtype);
        *b.slot = t;
        m.named.emplace_back(b.name, b.slot);
    }
    if (config.tieWordEmbeddings) {
        m.head.weight = m.wte;
        if (config.lmHeadBias && weights.contains("lm_head.bias"))
            m.head.bias = weights.tensor("lm_head.bias").to(m.device, m.dtype);
    }
    if (config.rotaryDim > 0)
        m.invFreq = inverseFrequencies(config).to(m.device);
    return model;
}

std::vector<std::pair<std::string, at::Tensor>> Transformer::namedParameters() const
{
    std::vector<std::pair<std::string, at::Tensor>> out;
    out.reserve(d->named.size());
    for (const auto &[name, slot] : d->named)
        out.emplace_back(name, *slot);
    return out;
}

at::Tensor Transformer::parameter(const std::string &name) const
{
    for (const auto &[n, slot] : d->named)
        if (n == name)
            return *slot;
    throw Error(ErrorKind::MissingTensor, "model has no parameter '" + name + "'");
}

void Transformer::setParameter(const std::string &name, const at::Tensor &value)
{
    for (auto &[n, slot] : d->named) {
        if (n != name)
            continue;
        if (slot->sizes() != value.sizes())
            throw Error(ErrorKind::ShapeMismatch,
                "parameter '" + name + "' has shape " + shapeText(slot->sizes()) + ", new value has "
                    + shapeText(value.sizes()));
        const bool isEmbedding = slot == &d->wte;
        *slot = value.to(d->device, d->dtype);
        if (isEmbedding && m_config.tieWordEmbeddings)
            d->head.weight = d->wte;
        return;
    }
    throw Error(ErrorKind::MissingTensor, "model has no parameter '" + name + "'");
}

ForwardOutput Transformer::forward(
    const at::Tensor &idsIn, const at::Tensor &maskIn, const ForwardOptions &options) const
{
    const ModelConfig &c = m_config;
    const Impl &m = *d;
    const bool fromHidden = options.firstLayer > 0;
    if (fromHidden) {
        if (options.firstLayer > c.numLayers)
            throw Error(ErrorKind::InvalidArgument,
                "forward: first layer " + std::to_string(options.firstLayer) + " is beyond the model's "
                    + std::to_string(c.numLayers) + " layers");
        if (!options.hiddenIn.defined() || options.hiddenIn.dim() != 3 || options.hiddenIn.size(2) != c.hiddenSize)
            throw Error(ErrorKind::InvalidArgument,
                "forward: a pass from block " + std::to_string(options.firstLayer)
                    + " needs the residual stream entering it as [batch, tokens, " + std::to_string(c.hiddenSize)
                    + "]");
    } else if (idsIn.dim() != 2) {
        throw Error(
            ErrorKind::InvalidArgument, "forward: ids must be [batch, tokens], got " + shapeText(idsIn.sizes()));
    }
    const at::Tensor ids = fromHidden ? at::Tensor() : idsIn.to(m.device, at::kLong);
    const int64_t B = fromHidden ? options.hiddenIn.size(0) : ids.size(0);
    const int64_t T = fromHidden ? options.hiddenIn.size(1) : ids.size(1);
    KvCache *cache = options.cache;
    const int64_t past = cache ? cache->length : 0;
    const int64_t S = past + T;
    if (S > c.maxPositions && c.positions == PositionScheme::Learned)
        throw Error(ErrorKind::InvalidArgument,
            "sequence of " + std::to_string(S) + " tokens exceeds the model's context of "
                + std::to_string(c.maxPositions));
    if (!fromHidden && T > 0) {
        const int64_t maxId = ids.max().item<int64_t>(), minId = ids.min().item<int64_t>();
        if (minId < 0 || maxId >= c.vocabSize)
            throw Error(ErrorKind::InvalidArgument,
                "token id " + std::to_string(minId < 0 ? minId : maxId) + " is outside the vocabulary of "
                    + std::to_string(c.vocabSize));
    }
    at::Tensor mask = maskIn.defined() ? maskIn.to(m.device, at::kLong)
                                       : at::ones({B, S}, at::TensorOptions().dtype(at::kLong).device(m.device));
    if (mask.dim() != 2 || mask.size(0) != B || mask.size(1) != S)
        throw Error(ErrorKind::InvalidArgument,
            "forward: attention mask must be " + shapeText({B, S}) + ", got " + shapeText(mask.sizes()));

    // Positions count real tokens; padded slots get position 0 (they are masked anyway).
    const at::Tensor positions = (mask.cumsum(1) - 1).clamp_min(0).narrow(1, past, T); // [B, T]

    const Interventions *iv = options.interventions;
    auto hook = [iv](Site site, int layer, at::Tensor x) { return iv ? iv->apply(site, layer, std::move(x)) : x; };

    at::Tensor x;
    if (fromHidden) {
        x = options.hiddenIn.to(m.device, m.dtype);
    } else {
        x = at::embedding(m.wte, ids);
        x = hook(Site::Embedding, 0, x);
        if (c.positions == PositionScheme::Learned)
            x = x + at::embedding(m.wpe, positions);
    }

    at::Tensor cos, sin;
    if (c.rotaryDim > 0) {
        at::Tensor pos = positions.to(at::kFloat);
        if (c.ropeScaling.type == RopeScaling::Type::Linear)
            pos = pos / c.ropeScaling.factor;
        at::Tensor angles = pos.unsqueeze(-1) * m.invFreq; // [B, T, r/2]
        if (c.positions == PositionScheme::RotaryHalf)
            angles = at::cat({angles, angles}, -1);
        else
            angles = angles.repeat_interleave(2, -1);
        cos = angles.cos().unsqueeze(1).to(m.dtype); // [B, 1, T, r]
        sin = angles.sin().unsqueeze(1).to(m.dtype);
    }

    // Additive mask [B, 1, T, S]: causal over absolute slots, key padding, sliding window.
    const auto opts = at::TensorOptions().device(m.device).dtype(at::kLong);
    const at::Tensor q = at::arange(past, S, opts).unsqueeze(1); // [T, 1]
    const at::Tensor k = at::arange(0, S, opts).unsqueeze(0); // [1, S]
    at::Tensor allowed = (k <= q);
    if (c.slidingWindow)
        allowed = allowed & (q - k < *c.slidingWindow);
    allowed = allowed.unsqueeze(0) & (mask.unsqueeze(1) != 0); // [B, T, S]
    const at::Tensor bias
        = at::zeros({B, 1, T, S}, at::TensorOptions().device(m.device).dtype(at::kFloat))
              .masked_fill(allowed.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());

    const int H = c.numHeads, Hkv = c.numKvHeads, hd = c.headDim;
    const int lastLayer
        = options.stopAfterLayer >= 0 ? std::min(options.stopAfterLayer, c.numLayers - 1) : c.numLayers - 1;
    if (cache && cache->keys.size() != static_cast<std::size_t>(c.numLayers)) {
        cache->keys.assign(c.numLayers, at::Tensor());
        cache->values.assign(c.numLayers, at::Tensor());
    }

    for (int layer = options.firstLayer; layer <= lastLayer; ++layer) {
        const Block &blk = m.blocks[layer];
        const at::Tensor h1 = applyNorm(c, blk.ln1, x);

        at::Tensor qh, kh, vh; // [B, heads, T, hd]
        if (blk.qkv.weight.defined()) {
            const at::Tensor qkv = blk.qkv(h1); // [B, T, 3D]
            if (c.family == ModelFamily::GptNeoX) {
                const at::Tensor per = qkv.view({B, T, H, 3 * hd});
                qh = per.narrow(-1, 0, hd);
                kh = per.narrow(-1, hd, hd);
                vh = per.narrow(-1, 2 * hd, hd);
            } else {
                const auto parts = qkv.split(H * hd, -1);
                qh = parts[0].view({B, T, H, hd});
                kh = parts[1].view({B, T, H, hd});
                vh = parts[2].view({B, T, H, hd});
            }
        } else {
            qh = blk.q(h1).view({B, T, H, hd});
            kh = blk.k(h1).view({B, T, Hkv, hd});
            vh = blk.v(h1).view({B, T, Hkv, hd});
        }
        qh = qh.transpose(1, 2);
        kh = kh.transpose(1, 2);
        vh = vh.transpose(1, 2);
        if (c.rotaryDim > 0) {
            qh = applyRotary(c, qh, cos, sin);
            kh = applyRotary(c, kh, cos, sin);
        }
        if (cache) {
            if (cache->keys[layer].defined()) {
                kh = at::cat({cache->keys[layer], kh}, 2);
                vh = at::cat({cache->values[layer], vh}, 2);
            }
            if (options.appendToCache) {
                cache->keys[layer] = kh.detach();
                cache->values[layer] = vh.detach();
            }
        }
        at::Tensor kAll = kh, vAll = vh;
        if (Hkv != H) {
            kAll = kAll.repeat_interleave(H / Hkv, 1);
            vAll = vAll.repeat_interleave(H / Hkv, 1);
        }
        double scale = 1.0 / std::sqrt(static_cast<double>(hd));
        if (c.scaleAttnByInverseLayerIdx)
            scale /= static_cast<double>(layer + 1);
        // Scores and softmax in float32 for every dtype, as the reference implementations do.
        at::Tensor scores = at::matmul(qh.to(at::kFloat), kAll.to(at::kFloat).transpose(-1, -2)) * scale + bias;
        at::Tensor probs = at::softmax(scores, -1).nan_to_num(0.0); // fully masked (padding) rows -> 0
        at::Tensor attn = at::matmul(probs.to(vAll.scalar_type()), vAll); // [B, H, T, hd]
        attn = attn.transpose(1, 2).reshape({B, T, H * hd});
        attn = hook(Site::AttentionOutput, layer, blk.o(attn));

        auto mlp = [&](const at::Tensor &h) {
            at::Tensor key = c.family == ModelFamily::Llama ? activate(c.activation, blk.gate(h)) * blk.up(h)
                                                            : activate(c.activation, blk.fcIn(h));
            key = hook(Site::MlpKey, layer, key);
            return hook(Site::MlpOutput, layer, blk.fcOut(key));
        };
        if (c.wiring == ResidualWiring::Sequential) {
            x = x + attn;
            x = x + mlp(applyNorm(c, blk.ln2, x));
        } else {
            const at::Tensor h2 = c.family == ModelFamily::GptJ ? h1 : applyNorm(c, blk.ln2, x);
            x = x + attn + mlp(h2);
        }
        x = hook(Site::BlockOutput, layer, x);
        if (options.cancelled) {
            if (options.cancelled())
                throw Error(ErrorKind::Cancelled, "cancelled during the forward pass");
            if (x.requires_grad())
                x.register_hook([check = options.cancelled](const at::Tensor &grad) {
                    if (check())
                        throw Error(ErrorKind::Cancelled, "cancelled during the backward pass");
                    return grad;
                });
        }
    }
    if (cache && options.appendToCache)
        cache->length = S;

    ForwardOutput out;
    out.hidden = x;
    if (options.computeLogits && options.stopAfterLayer < 0) {
        at::Tensor last = x;
        if (options.logitIndex.defined()) {
            const at::Tensor idx = options.logitIndex.to(x.device(), at::kLong);
            last = x.index({idx.select(1, 0), idx.select(1, 1)}); // [N, d]
        } else if (options.logitPositions.defined()) {
            const at::Tensor pos = options.logitPositions.to(x.device(), at::kLong);
            const at::Tensor rows = at::arange(B, pos.options());
            last = x.index({rows, pos}).unsqueeze(1); // [B, 1, d]
        }
        const at::Tensor normed = applyNorm(c, m.lnF, last);
        out.logits = m.head(normed).to(at::kFloat);
    }
    return out;
}

} // namespace engram
