#include "core/edit/statisticssource.h"

#include "core/edit/editor.h"
#include "core/edit/statisticsfiles.h"
#include "core/util/error.h"

#include <algorithm>

namespace engram {

StatisticsSource StatisticsSource::fromFiles(std::vector<std::filesystem::path> files)
{
    StatisticsSource s;
    s.kind = Kind::Files;
    s.files = std::move(files);
    return s;
}

StatisticsSource StatisticsSource::fromCorpus(std::filesystem::path corpus, int64_t maxDocuments)
{
    StatisticsSource s;
    s.kind = Kind::Corpus;
    s.corpus = std::move(corpus);
    s.maxDocuments = maxDocuments;
    return s;
}

std::string layerListText(const std::vector<int> &layers)
{
    std::string out;
    for (int l : layers)
        out += (out.empty() ? "" : ", ") + std::to_string(l);
    return out;
}

std::vector<int> missingLayers(const std::vector<int> &have, const std::vector<int> &needed)
{
    std::vector<int> missing;
    for (int l : needed)
        if (std::find(have.begin(), have.end(), l) == have.end()
            && std::find(missing.begin(), missing.end(), l) == missing.end())
            missing.push_back(l);
    return missing;
}

std::vector<int> missingStatisticsLayers(
    const std::vector<std::filesystem::path> &files, const std::vector<int> &layers)
{
    return missingLayers(statisticsFileLayers(files), layers);
}

ResolvedStatistics resolveStatistics(const StatisticsSource &source, const ModelSession &base,
    const std::vector<int> &layers, const std::function<bool(int64_t, int64_t)> &progress)
{
    ResolvedStatistics out;
    if (layers.empty())
        return out;
    switch (source.kind) {
    case StatisticsSource::Kind::Files: {
        if (source.files.empty())
            throw Error(ErrorKind::InvalidArgument, "no statistics files given");
        const auto missing = missingStatisticsLayers(source.files, layers);
        if (!missing.empty())
            throw Error(ErrorKind::InvalidArgument,
                "the statistics files do not cover layer(s) " + layerListText(missing) + " of the edit (layers "
                    + layerListText(layers) + "); add files for them, or compute them from a corpus");
        out.files = source.files;
        return out;
    }
    case StatisticsSource::Kind::Corpus: {
        if (source.corpus.empty())
            throw Error(ErrorKind::InvalidArgument, "no corpus given for the statistics");
        out.corpus = source.corpus;
        out.maxDocuments = std::max<int64_t>(source.maxDocuments, 0);
        out.cacheDir = source.cacheDir.empty() ? defaultStatisticsCacheDir() : source.cacheDir;
        const auto cached
            = cachedStatisticsFiles(base, out.corpus, layers, out.maxDocuments, out.cacheDir, progress, source.float64);
        out.files = cached.files;
        out.computedLayers = cached.computedLayers;
        return out;
    }
    case StatisticsSource::Kind::ProjectCorpus:
        break;
    }
    throw Error(ErrorKind::InvalidArgument,
        "no statistics for the edit: give statistics files or a corpus (or set the project's statistics corpus)");
}

} // namespace engram
