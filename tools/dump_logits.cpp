// dump_logits: prints a model's logits for given token ids, and a greedy continuation, as
// JSON, for comparison with other implementations (see tools/device/hf_crosscheck.py).
//   dump_logits --model DIR --ids "1 2 3" [--device cpu|cuda] [--dtype fp32] [--greedy 16]

#include "core/model/generator.h"
#include "core/model/transformer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

int main(int argc, char **argv)
{
    std::map<std::string, std::string> opt
        = {{"--model", ""}, {"--ids", ""}, {"--device", "cpu"}, {"--dtype", "fp32"}, {"--greedy", "16"}};
    for (int i = 1; i + 1 < argc; i += 2)
        opt[argv[i]] = argv[i + 1];
    try {
        c10::GradMode::set_enabled(false);
        const auto model = engram::Transformer::load(opt["--model"], {opt["--device"], opt["--dtype"]});
        std::vector<int64_t> ids;
        std::istringstream in(opt["--ids"]);
        for (int64_t id; in >> id;)
            ids.push_back(id);
        const at::Tensor logits
            = model->forward(at::tensor(ids, at::kLong).unsqueeze(0)).logits.squeeze(0).to(at::kCPU).contiguous();
        nlohmann::json out;
        out["device"] = opt["--device"];
        out["logits"] = nlohmann::json::array();
        for (int64_t t = 0; t < logits.size(0); ++t) {
            const at::Tensor row = logits[t];
            out["logits"].push_back(std::vector<float>(row.data_ptr<float>(), row.data_ptr<float>() + row.numel()));
        }
        engram::GenerationParams p;
        p.maxNewTokens = std::stoi(opt["--greedy"]);
        out["greedy"] = engram::generate(*model, ids, p).tokens;
        p.useCache = false;
        out["greedy_uncached"] = engram::generate(*model, ids, p).tokens;
        std::cout << out.dump() << "\n";
    } catch (const std::exception &e) {
        std::fprintf(stderr, "dump_logits: %s\n", e.what());
        return 1;
    }
    return 0;
}
