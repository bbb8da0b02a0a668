#include "ui/models/demoproject.h"

#include "core/data/datasets.h"
#include "core/jobs/projectjobs.h"
#include "core/project/project.h"
#include "core/util/error.h"

#include <QDir>
#include <QFile>

namespace engram::ui {

QString ensureDemoProject(const QString &demoDir, const QString &dataDir, int facts)
{
    QDir().mkpath(dataDir);
    const QString file = QDir(dataDir).filePath(QStringLiteral("demo.engram"));
    const std::filesystem::path model = QDir(demoDir).filePath(QStringLiteral("model")).toStdString();
    const ProjectModel described = describeProjectModel(model);
    if (QFile::exists(file)) {
        try {
            const auto existing = Project::open(file.toStdString(), /*readOnly=*/true);
            if (existing->model().contentHash == described.contentHash && existing->model().path == described.path)
                return file;
        } catch (const Error &) {
            // Damaged or newer: keep it aside and start a fresh demo project.
        }
        const QString aside = file + QStringLiteral(".old");
        QFile::remove(aside);
        QFile::rename(file, aside);
    }
    auto project = Project::create(file.toStdString(), described);
    project->setSetting("stats.corpus", QDir(demoDir).filePath(QStringLiteral("corpus.txt")).toStdString());
    project->setSetting("stats.max_docs", "3000");
    const auto data = importDataset(QDir(demoDir).filePath(QStringLiteral("counterfact.json")).toStdString(), facts);
    std::vector<Fact> list;
    for (std::size_t i = 0; i < data.records.size(); ++i) {
        Fact f = factFromRecord(data.records[i]);
        f.provenance = "counterfact.json#" + std::to_string(i + 1);
        f.tags = {"demo"};
        list.push_back(std::move(f));
    }
    project->addFacts(std::move(list));
    return file;
}

} // namespace engram::ui
