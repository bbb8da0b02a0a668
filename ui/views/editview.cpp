#include "ui/views/editview.h"

#include "core/edit/presets.h"
#include "core/edit/statisticsfiles.h"
#include "core/edit/statisticssource.h"
#include "core/jobs/projectjobs.h"
#include "core/model/modelconfig.h"
#include "core/model/modelinfo.h"
#include "core/util/error.h"
#include "ui/jobs/jobcontroller.h"
#include "ui/models/projectdocument.h"
#include "ui/models/runhistorymodel.h"
#include "ui/plots/healthplot.h"
#include "ui/plots/qcustomplot.h"
#include "ui/views/scorespanel.h"

#include <QAbstractButton>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QDir>
#include <QInputDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <map>
#include <tuple>
#include <memory>

namespace engram::ui {

namespace {

// A folder to export into: an empty or new one (the export fills it completely or not at all).
// A non-empty choice is not refused silently: a new folder inside it is proposed instead.
QString chooseExportFolder(QWidget *parent, const QString &caption, const QString &suggestedName)
{
    const QString dir = QFileDialog::getExistingDirectory(parent, caption + QObject::tr(" \u2014 choose or create an empty folder"));
    if (dir.isEmpty())
        return {};
    if (QDir(dir).isEmpty())
        return dir;
    QString inside = QDir(dir).filePath(suggestedName);
    for (int n = 2; QFileInfo::exists(inside); ++n)
        inside = QDir(dir).filePath(suggestedName + QStringLiteral("-%1").arg(n));
    const auto answer = QMessageBox::question(parent, caption,
        QObject::tr("%1 is not empty, and an export needs a folder of its own.\n\nExport into a new folder %2 "
                    "inside it?")
            .arg(QDir::toNativeSeparators(dir), QDir::toNativeSeparators(inside)));
    return answer == QMessageBox::Yes ? inside : QString();
}
QDoubleSpinBox *spin(QWidget *parent, double min, double max, int decimals, const QString &tip)
{
    auto *s = new QDoubleSpinBox(parent);
    s->setRange(min, max);
    s->setDecimals(decimals);
    s->setToolTip(tip);
    return s;
}

std::vector<int> parseLayerList(const QString &text)
{
    std::vector<int> layers;
    for (const QString &part : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        bool ok = false;
        const int l = part.trimmed().toInt(&ok);
        if (!ok || l < 0)
            return {};
        layers.push_back(l);
    }
    return layers;
}

// A message box that does not block the event loop (jobs keep reporting; tests keep running).
void showNonModal(QWidget *parent, QMessageBox::Icon icon, const QString &title, const QString &text)
{
    auto *box = new QMessageBox(icon, title, text, QMessageBox::Ok, parent);
    box->setObjectName(QStringLiteral("jobMessage"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

// A fall of this many points (×100) in Kept, NS or NM is flagged as collateral damage.
constexpr double kDamagePoints = 5.0;

// Layer numbers as "0, 1, 3".
QString layerText(const std::vector<int> &layers)
{
    return QString::fromStdString(layerListText(layers));
}

} // namespace

EditView::EditView(ProjectDocument *document, JobController *jobs, QWidget *parent)
    : QWidget(parent)
    , m_document(document)
    , m_jobs(jobs)
{
    setObjectName(QStringLiteral("editView"));
    m_method = new QComboBox(this);
    m_method->setObjectName(QStringLiteral("editMethod"));
    m_method->addItem(tr("MEMIT (batch)"), static_cast<int>(EditMethod::Memit));
    m_method->addItem(tr("AlphaEdit (null space)"), static_cast<int>(EditMethod::AlphaEdit));
    m_method->addItem(tr("ROME (one by one)"), static_cast<int>(EditMethod::Rome));
    m_method->addItem(tr("r-ROME (consistent key)"), static_cast<int>(EditMethod::RRome));
    m_method->addItem(tr("FT-W (constrained fine-tuning)"), static_cast<int>(EditMethod::FineTune));
    m_method->setToolTip(tr("MEMIT writes all facts at once over a range of layers; AlphaEdit does the same with "
                            "the update confined to directions the statistics' keys hardly use, and keeps earlier "
                            "runs' edits (for run after run on one project); ROME one fact at a time at one "
                            "layer; FT-W fine-tunes one layer's MLP output inside an L\u221e ball"));
    m_scope = new QComboBox(this);
    m_scope->setObjectName(QStringLiteral("editScope"));
    m_scope->setToolTip(
        tr("Pending: every enabled fact no applied run has edited; or the facts selected in the table"));
    m_device = new QComboBox(this);
    m_device->setObjectName(QStringLiteral("editDevice"));
    m_device->addItem(tr("CPU"), QStringLiteral("cpu"));
    const RuntimeInfo runtime = runtimeInfo();
    for (int d = 0; d < runtime.cudaDevices; ++d)
        m_device->addItem(tr("CUDA %1").arg(d), QStringLiteral("cuda:%1").arg(d));
    m_device->setToolTip(runtime.cudaAvailable ? tr("Where jobs run the model")
                                               : tr("Where jobs run the model (this LibTorch has no CUDA)"));
    m_dtype = new QComboBox(this);
    m_dtype->setObjectName(QStringLiteral("editDtype"));
    m_dtype->addItem(QStringLiteral("fp32"));
    m_dtype->addItem(QStringLiteral("bf16"));
    m_dtype->addItem(QStringLiteral("fp16"));
    m_dtype->setToolTip(tr("Weight type the model is loaded in; editing maths runs in fp32 and solves in fp64 "
                           "either way"));
    m_layers = new QLineEdit(this);
    m_layers->setObjectName(QStringLiteral("editLayers"));
    m_layers->setToolTip(tr("Layers whose MLP output weights change, e.g. 3,4,5,6,7,8 (ROME and FT-W use the "
                            "first); the causal trace suggests where the model stores facts"));
    m_lambda = spin(this, 0, 1e9, 1,
        tr("\u03bb (mom2_update_weight): weight of the covariance term; larger keeps other facts safer and "
           "edits less"));
    m_nullThreshold = spin(this, 0, 1e6, 5,
        tr("AlphaEdit: eigenvalues of the statistics' second moment below this span the null space the update "
           "is confined to (published 2e-2; the run records the dimension per layer)"));
    m_nullThreshold->setObjectName(QStringLiteral("editNullSpaceThreshold"));
    m_lambda->setObjectName(QStringLiteral("editLambda"));
    m_keepEarlier = new QCheckBox(tr("Keep earlier runs' edits"), this);
    m_keepEarlier->setObjectName(QStringLiteral("editKeepEarlierRuns"));
    m_keepEarlier->setToolTip(tr("MEMIT and AlphaEdit: the keys of every applied run join the solve as memories "
                                 "(C\u209a), so this run does not overwrite them; reverting a run takes its keys "
                                 "out. On by default for AlphaEdit"));
    m_lr = spin(this, 1e-6, 100, 4, tr("Learning rate of the target optimisation (MEMIT/ROME \u03b4) or of FT-W"));
    m_clamp = spin(this, 0, 100, 2, tr("Clamp: \u2016\u03b4\u2016 \u2264 factor \u00b7 \u2016h\u2016 (MEMIT/ROME)"));
    m_lr->setObjectName(QStringLiteral("editLr"));
    m_clamp->setObjectName(QStringLiteral("editClamp"));
    m_steps = new QSpinBox(this);
    m_steps->setRange(1, 100000);
    m_steps->setToolTip(tr("Optimisation steps (target vectors, or FT-W)"));
    m_norm = spin(this, 0, 10, 4, tr("FT-W: largest change of any weight entry (L\u221e); 0 = unconstrained"));
    m_statistics = new QLabel(this);
    m_statistics->setObjectName(QStringLiteral("editStatistics"));
    m_statistics->setWordWrap(true);
    m_statsSource = new QComboBox(this);
    m_statsSource->setObjectName(QStringLiteral("editStatsSource"));
    m_statsSource->addItem(tr("Project corpus (cached)"));
    m_statsSource->addItem(tr("Choose corpus\u2026"));
    m_statsSource->addItem(tr("Statistics files\u2026"));
    m_statsSource->setToolTip(tr("Covariance of the MLP keys that MEMIT and ROME need: computed once from a text "
                                 "corpus and cached, or read from files (ours, or the published .npz files)"));

    m_keepFacts = new QCheckBox(tr("Keep the project's other facts"), this);
    m_keepFacts->setObjectName(QStringLiteral("editKeepFacts"));
    m_keepFacts->setChecked(true);
    m_keepFacts->setToolTip(tr("MEMIT and ROME: the project's other facts about an edited subject are kept "
                               "while its target is optimised (a KL term at each such prompt), so editing "
                               "one relation of a subject does not overwrite its others. MEMIT with a "
                               "protection weight above 0: facts about other subjects become protected keys. "
                               "Not in the published methods; recorded with the run"));
    m_protect = spin(this, 0, 1e6, 3,
        tr("MEMIT: weight \u03bc of the protected keys (the project's facts about other subjects) in "
           "\u03bbC + \u03bcK\u209aK\u209a\u1d40 + KK\u1d40; larger keeps them safer and edits less; "
           "0 = protect none. Used when \u201cKeep the project's other facts\u201d is on"));
    m_protect->setObjectName(QStringLiteral("editProtectWeight"));
    connect(m_keepFacts, &QCheckBox::toggled, this, &EditView::updateProtectEnabled);
    m_fluency = new QCheckBox(tr("Also score fluency (generations; slower)"), this);
    m_fluency->setObjectName(QStringLiteral("editFluency"));
    m_fluency->setToolTip(tr("Generate from each fact's generation prompts before and after and report the "
                             "generation entropy (GE); a drop means the model repeats itself"));
    m_edit = new QPushButton(tr("&Edit"), this);
    m_edit->setObjectName(QStringLiteral("editRun"));
    m_edit->setToolTip(tr("Edit the facts on the job thread, then score them before and after (Ctrl+E)"));
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setObjectName(QStringLiteral("editCancel"));
    m_cancel->setEnabled(false);
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setObjectName(QStringLiteral("editProgress"));
    m_stage = new QLabel(tr("Idle"), this);
    m_stage->setObjectName(QStringLiteral("editStage"));
    // Ctrl+E is the main window's Edit > Run Edit action (one binding: two would be ambiguous).
    m_allowConflicts = new QCheckBox(tr("Allow conflicts (edit anyway)"), this);
    m_allowConflicts->setObjectName(QStringLiteral("editAllowConflicts"));
    m_allowConflicts->setToolTip(tr("Edit facts that conflict (two new objects for one subject and relation, one "
                                    "subject twice in the batch, or a re-edit of an applied run's fact). MEMIT then "
                                    "averages what it cannot satisfy at once; usually better: disable one of the "
                                    "facts, or edit them in separate runs (select them, Facts: Selected facts)"));
    m_guardRetention = spin(this, 0, 100, 1,
        tr("Health guard: a run after which the project's other facts are recalled less than this share of the "
           "base model's recall is held, not applied; you then apply or discard it. 0 = off. Kept in the project"));
    m_guardRetention->setObjectName(QStringLiteral("editGuardRetention"));
    m_guardRetention->setPrefix(tr("retention ≥ "));
    m_guardRetention->setSuffix(tr(" %"));
    m_guardRetention->setSpecialValueText(tr("retention: off"));
    m_guardEs = spin(this, 0, 100, 1,
        tr("Health guard: a run after which ES over every fact edited so far (this run's included) is below this "
           "is held, not applied. 0 = off. Kept in the project"));
    m_guardEs->setObjectName(QStringLiteral("editGuardEs"));
    m_guardEs->setPrefix(tr("ES so far ≥ "));
    m_guardEs->setSpecialValueText(tr("ES: off"));
    m_conflictWarning = new QLabel(this);
    m_conflictWarning->setObjectName(QStringLiteral("editConflictWarning"));
    m_conflictWarning->setWordWrap(true);
    m_conflictWarning->setStyleSheet(QStringLiteral("color: #8a5300"));
    m_conflictWarning->hide();

    auto *form = new QFormLayout;
    form->addRow(tr("&Method:"), m_method);
    form->addRow(tr("&Facts:"), m_scope);
    auto *placement = new QHBoxLayout;
    placement->addWidget(m_device, 1);
    placement->addWidget(m_dtype);
    form->addRow(tr("Device:"), placement);
    form->addRow(tr("&Layers:"), m_layers);
    form->addRow(tr("\u03bb:"), m_lambda);
    form->addRow(tr("Null-space threshold:"), m_nullThreshold);
    form->addRow(tr("Learning rate:"), m_lr);
    form->addRow(tr("Clamp factor:"), m_clamp);
    form->addRow(tr("Steps:"), m_steps);
    form->addRow(tr("FT-W L\u221e bound:"), m_norm);
    form->addRow(tr("Statistics:"), m_statsSource);
    form->addRow(QString(), m_statistics);
    form->addRow(QString(), m_keepFacts);
    form->addRow(QString(), m_keepEarlier);
    form->addRow(tr("Protection \u03bc:"), m_protect);
    form->addRow(QString(), m_fluency);
    form->addRow(QString(), m_allowConflicts);
    auto *guardRow = new QHBoxLayout;
    guardRow->addWidget(m_guardRetention, 1);
    guardRow->addWidget(m_guardEs, 1);
    form->addRow(tr("Health guard:"), guardRow);
    auto *presetButton = new QPushButton(tr("Reset to preset"), this);
    presetButton->setToolTip(tr("The published values for this model family, or the demo's measured ones"));
    auto *runRow = new QHBoxLayout;
    runRow->addWidget(m_edit);
    runRow->addWidget(m_cancel);
    runRow->addWidget(presetButton);
    auto *setup = new QGroupBox(tr("New edit run"), this);
    setup->setMaximumWidth(560); // the fields gain nothing from more width; the scores do
    auto *setupLayout = new QVBoxLayout(setup);
    setupLayout->addLayout(form);
    setupLayout->addWidget(m_conflictWarning);
    setupLayout->addLayout(runRow);
    setupLayout->addWidget(m_progress);
    setupLayout->addWidget(m_stage);
    setupLayout->addStretch(1);

    m_historyModel = new RunHistoryModel(this);
    m_history = new QTableView(this);
    m_history->setObjectName(QStringLiteral("editHistory"));
    m_history->setModel(m_historyModel);
    m_history->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_history->setSelectionMode(QAbstractItemView::SingleSelection);
    m_history->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_history->verticalHeader()->hide();
    m_history->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_history->horizontalHeader()->setStretchLastSection(false);
    auto *revertButton = new QPushButton(tr("&Revert"), this);
    revertButton->setObjectName(QStringLiteral("editRevert"));
    revertButton->setToolTip(tr("Take the selected run out of the model (verified against the history)"));
    auto *reapplyButton = new QPushButton(tr("Re-&apply"), this);
    reapplyButton->setObjectName(QStringLiteral("editReapply"));
    reapplyButton->setToolTip(tr("Put the selected reverted run back, or apply a run the health guard held "
                                 "(verified against the history)"));
    auto *discardButton = new QPushButton(tr("&Discard"), this);
    discardButton->setObjectName(QStringLiteral("editDiscard"));
    discardButton->setToolTip(tr("Discard the selected run the health guard held: it stays in the history, "
                                 "never applied"));
    auto *exportButton = new QPushButton(tr("E&xport Model\u2026"), this);
    exportButton->setObjectName(QStringLiteral("editExport"));
    exportButton->setToolTip(tr("Write the patched model as a Hugging Face directory"));
    auto *historyButtons = new QHBoxLayout;
    historyButtons->addWidget(revertButton);
    historyButtons->addWidget(reapplyButton);
    historyButtons->addWidget(discardButton);
    historyButtons->addStretch(1);
    historyButtons->addWidget(exportButton);
    auto *historyBox = new QGroupBox(tr("History"), this);
    auto *historyLayout = new QVBoxLayout(historyBox);
    m_healthPlot = new QCustomPlot(this);
    m_healthPlot->setObjectName(QStringLiteral("editHealthPlot"));
    m_healthPlot->setMinimumHeight(120);
    m_healthPlot->setToolTip(tr("The model's health after each applied run, measured on the project's own facts: "
                                "ES over every fact edited so far, retention of the other facts and fluency (as a "
                                "share of the base model's), and the largest cumulative ‖W−W₀‖/"
                                "‖W₀‖ (right axis). Red crosses: runs the guard held; dashed: its "
                                "thresholds"));
    // Runs and their health side by side as tabs: each gets the whole box.
    auto *historyTabs = new QTabWidget(this);
    historyTabs->setObjectName(QStringLiteral("editHistoryTabs"));
    historyTabs->addTab(m_history, tr("Runs"));
    historyTabs->addTab(m_healthPlot, tr("Health"));
    historyTabs->setTabToolTip(1, m_healthPlot->toolTip());
    historyLayout->addWidget(historyTabs, 1);
    historyLayout->addLayout(historyButtons);

    m_scoresPanel = new ScoresPanel(this);

    auto *right = new QSplitter(Qt::Vertical, this);
    right->addWidget(historyBox);
    right->addWidget(m_scoresPanel);
    // The form needs little width; the history and the scores get the rest (the form's fields
    // would stretch uselessly wide otherwise). A splitter lets the user choose.
    auto *columns = new QSplitter(Qt::Horizontal, this);
    columns->setObjectName(QStringLiteral("editColumns"));
    columns->addWidget(setup);
    columns->addWidget(right);
    columns->setStretchFactor(0, 2);
    columns->setStretchFactor(1, 3);
    columns->setSizes({400, 600}); // proportions, scaled to the width it gets
    right->setSizes({360, 400}); // the history with its health chart, and the scores
    columns->setChildrenCollapsible(false);
    auto *layout = new QHBoxLayout(this);
    layout->addWidget(columns);

    connect(m_edit, &QPushButton::clicked, this, &EditView::startEdit);
    connect(m_cancel, &QPushButton::clicked, this, &EditView::cancelJob);
    connect(m_scoresPanel, &ScoresPanel::scoreRequested, this, &EditView::scoreNow);
    connect(presetButton, &QPushButton::clicked, this, &EditView::loadPreset);
    connect(revertButton, &QPushButton::clicked, this, &EditView::revertSelected);
    connect(reapplyButton, &QPushButton::clicked, this, &EditView::reapplySelected);
    connect(discardButton, &QPushButton::clicked, this, &EditView::discardSelected);
    for (auto *field : {m_guardRetention, m_guardEs})
        connect(field, &QDoubleSpinBox::editingFinished, this, &EditView::saveGuard);
    connect(exportButton, &QPushButton::clicked, this, [this] { exportModel(); });
    connect(m_method, &QComboBox::currentIndexChanged, this, &EditView::loadPreset);
    connect(m_statsSource, &QComboBox::activated, this, [this](int index) {
        if (index == 1 && m_document->isOpen()) {
            const QString corpus = QFileDialog::getOpenFileName(
                this, tr("Statistics Corpus"), {}, tr("Text (*.txt *.jsonl);;All files (*)"));
            if (!corpus.isEmpty())
                m_document->project()->setSetting("stats.corpus", corpus.toStdString());
            setStatisticsFiles({});
        } else if (index == 2) {
            setStatisticsFiles(QFileDialog::getOpenFileNames(
                this, tr("Statistics Files"), {}, tr("Statistics (*.safetensors *.npz)")));
        } else {
            setStatisticsFiles({});
        }
    });
    connect(m_document, &ProjectDocument::runsChanged, this, &EditView::refreshHistory);
    connect(m_document, &ProjectDocument::runsChanged, this, &EditView::refreshScores);
    connect(m_document, &ProjectDocument::factsChanged, this, &EditView::refreshHistory);
    connect(m_document, &ProjectDocument::opened, this, [this] {
        m_preset.reset(); // another project, maybe another model
        loadGuard();
        loadPreset();
        refreshScores();
    });
    connect(m_jobs, &JobController::progress, this, &EditView::onProgress);
    connect(m_jobs, &JobController::busyChanged, this, &EditView::setBusy);
    connect(m_jobs, &JobController::failed, this, [this](const QString &job, const QString &) {
        m_stage->setText(tr("%1 failed").arg(job));
        m_document->reload();
    });
    // Jobs whose submitter shows its own failures (e.g. the trace view) are not shown twice.
    connect(m_jobs, &JobController::failedUnhandled, this, [this](const QString &job, const QString &why) {
        showNonModal(this, QMessageBox::Warning, tr("%1 failed").arg(job), why);
    });
    connect(m_jobs, &JobController::cancelled, this, [this](const QString &job) {
        m_stage->setText(tr("%1 cancelled; the project is as it was").arg(job));
        m_document->reload();
    });
    refreshHistory();
}

QTableView *EditView::scores() const
{
    return m_scoresPanel->table();
}

void EditView::setSelectionProvider(std::function<std::vector<int64_t>()> provider)
{
    m_selection = std::move(provider);
}

EditMethod EditView::currentMethod() const
{
    return static_cast<EditMethod>(m_method->currentData().toInt());
}

const EditPreset &EditView::preset()
{
    if (!m_preset) {
        m_preset = editPresetForCheckpoint(m_document->project()->model().path); // config.json only
    }
    return *m_preset;
}

void EditView::updateProtectEnabled()
{
    // Protected keys are a MEMIT term and come from the project's other facts.
    m_protect->setEnabled(m_keepFacts->isChecked() && usesMemitParams(currentMethod()));
}

void EditView::loadPreset()
{
    if (!m_document->isOpen())
        return;
    EditPreset preset;
    try {
        preset = this->preset();
    } catch (const Error &e) {
        m_statistics->setText(tr("The project's model cannot be read: %1").arg(QString::fromUtf8(e.what())));
        return;
    }
    const EditConfig config = preset.configFor(currentMethod());
    QStringList layers;
    for (int l : config.editedLayers())
        layers << QString::number(l);
    switch (config.method()) {
    case EditMethod::Memit:
    case EditMethod::AlphaEdit:
        m_lambda->setValue(config.memit().lambda);
        m_nullThreshold->setValue(config.memit().nullSpaceThreshold);
        m_keepEarlier->setChecked(config.memit().preserveEarlierRuns);
        m_lr->setValue(config.memit().vLr);
        m_clamp->setValue(config.memit().clampNormFactor);
        m_steps->setValue(config.memit().vSteps);
        m_protect->setValue(config.memit().protectWeight);
        break;
    case EditMethod::Rome:
    case EditMethod::RRome:
        m_lr->setValue(config.rome().vLr);
        m_clamp->setValue(config.rome().clampNormFactor);
        m_steps->setValue(config.rome().vSteps);
        break;
    case EditMethod::FineTune:
        m_lr->setValue(config.fineTune().lr);
        m_steps->setValue(config.fineTune().steps);
        m_norm->setValue(config.fineTune().normConstraint);
        break;
    }
    m_layers->setText(layers.join(QLatin1Char(',')));
    m_lambda->setEnabled(config.method() == EditMethod::Memit);
    m_nullThreshold->setEnabled(config.method() == EditMethod::AlphaEdit);
    m_keepEarlier->setEnabled(usesMemitParams(config.method()));
    updateProtectEnabled();
    m_clamp->setEnabled(config.needsStatistics());
    m_norm->setEnabled(config.method() == EditMethod::FineTune);
    const std::string corpus = m_document->project()->setting("stats.corpus");
    QString filesLine;
    if (!m_statsFiles.isEmpty()) {
        try {
            filesLine
                = tr("%n file(s), layer(s) %1: %2", nullptr, static_cast<int>(m_statsFiles.size()))
                      .arg(layerText(statisticsFileLayers(statisticsPaths())), m_statsFiles.join(QStringLiteral(", ")));
        } catch (const Error &e) {
            filesLine = tr("cannot be used: %1").arg(QString::fromUtf8(e.what()));
        }
    }
    m_statistics->setText(!config.needsStatistics() ? tr("not needed")
            : !m_statsFiles.isEmpty()               ? filesLine
            : corpus.empty()                        ? tr("no corpus set for this project: choose one above")
                             : tr("%1 (computed once, then cached)").arg(QString::fromStdString(corpus)));
    m_statistics->setToolTip(QString::fromStdString(preset.name + ": " + preset.source));
    refreshHistory();
}

LoadOptions EditView::loadOptions() const
{
    LoadOptions o;
    o.device = m_device->currentData().toString().toStdString();
    o.dtype = m_dtype->currentText().toStdString();
    return o;
}

void EditView::setLayers(const QString &layers)
{
    m_layers->setText(layers);
    Q_EMIT message(tr("Layers for the next edit: %1").arg(layers));
}

std::vector<std::filesystem::path> EditView::statisticsPaths() const
{
    std::vector<std::filesystem::path> paths;
    for (const QString &f : m_statsFiles)
        paths.push_back(f.toStdString());
    return paths;
}

void EditView::setStatisticsFiles(const QStringList &files)
{
    m_statsFiles = files;
    m_statsSource->setCurrentIndex(files.isEmpty() ? 0 : 2);
    loadPreset(); // refreshes the statistics line
}

void EditView::refreshHistory()
{
    const auto pending = m_document->pendingFactIds().size();
    const int scope = std::max(0, m_scope->currentIndex());
    m_scope->clear();
    m_scope->addItem(tr("Pending facts (%1)").arg(pending));
    m_scope->addItem(QString()); // "Selected facts (N)", labelled by selectionChanged()
    m_scope->setCurrentIndex(scope);
    selectionChanged();

    m_historyModel->setRuns(m_document->runs());
    HealthGuard guard;
    try {
        if (m_document->isOpen())
            guard = m_document->project()->healthGuard();
    } catch (const Error &) {
        // loadGuard() says what is wrong with the stored thresholds; the chart draws the defaults.
    }
    populateHealthPlot(m_healthPlot, m_historyModel->runs(), guard);
}

void EditView::loadGuard()
{
    if (!m_document->isOpen())
        return;
    HealthGuard guard;
    try {
        guard = m_document->project()->healthGuard();
    } catch (const Error &e) {
        Q_EMIT message(tr("The project's health guard setting cannot be read (%1); the defaults are shown")
                           .arg(QString::fromUtf8(e.what())));
    }
    const QSignalBlocker a(m_guardRetention), b(m_guardEs);
    m_guardRetention->setValue(100 * guard.minRetention);
    m_guardEs->setValue(guard.minEsSoFar);
}

void EditView::saveGuard()
{
    if (!m_document->isOpen())
        return;
    const HealthGuard guard {m_guardRetention->value() / 100, m_guardEs->value()};
    try {
        const HealthGuard stored = m_document->project()->healthGuard();
        if (stored.minRetention == guard.minRetention && stored.minEsSoFar == guard.minEsSoFar)
            return;
    } catch (const Error &) {
        // A damaged stored value: the fields' values replace it.
    }
    try {
        m_document->project()->setHealthGuard(guard);
    } catch (const Error &e) {
        showNonModal(this, QMessageBox::Warning, tr("Health guard not saved"), QString::fromUtf8(e.what()));
        return;
    }
    refreshHistory(); // the chart's dashed thresholds
    Q_EMIT message(tr("Health guard: runs below %1 retention or %2 ES so far are held")
                       .arg(guard.minRetention > 0 ? tr("%1 %").arg(100 * guard.minRetention, 0, 'f', 1) : tr("(off)"),
                           guard.minEsSoFar > 0 ? QString::number(guard.minEsSoFar, 'f', 1) : tr("(off)")));
}

void EditView::selectionChanged()
{
    const std::size_t selected = m_selection ? m_selection().size() : 0;
    if (m_scope->count() > 1)
        m_scope->setItemText(
            1, selected ? tr("Selected facts (%1)").arg(selected) : tr("Selected facts (none selected)"));
    updateConflictWarning();
}

void EditView::updateConflictWarning()
{
    // What the next edit would refuse, said before Edit is pressed.
    const auto &conflicts = m_document->isOpen() ? m_document->conflicts() : std::vector<Conflict> {};
    if (conflicts.empty() || m_scope->currentIndex() == 1) {
        m_conflictWarning->hide();
        return;
    }
    QStringList lines;
    for (std::size_t i = 0; i < conflicts.size() && i < 3; ++i)
        lines << QString::fromStdString(conflicts[i].message);
    if (conflicts.size() > 3)
        lines << tr("\u2026 and %n more", nullptr, static_cast<int>(conflicts.size() - 3));
    m_conflictWarning->setText(
        tr("%n conflict(s) among the pending facts: the edit will refuse them unless \u201cAllow conflicts\u201d is "
           "on. Disable one fact of each pair, or edit them in separate runs (select them and choose Selected facts).",
            nullptr, static_cast<int>(conflicts.size()))
        + QStringLiteral("\n") + lines.join(QStringLiteral("\n")));
    m_conflictWarning->setVisible(true);
}

void EditView::setEditInFlight(bool inFlight)
{
    m_editInFlight = inFlight;
    m_edit->setEnabled(!inFlight);
    Q_EMIT editAvailableChanged(!inFlight);
}

void EditView::startEdit()
{
    if (!m_document->isOpen())
        return;
    if (m_editInFlight) { // a double click, or Ctrl+E during a run: one edit at a time
        Q_EMIT message(tr("An edit is already queued or running; wait for it (or cancel it) first"));
        return;
    }
    EditJobSpec spec;
    const auto layers = parseLayerList(m_layers->text());
    if (layers.empty()) {
        QMessageBox::warning(this, tr("Cannot edit"), tr("Layers must be a list of layer numbers, e.g. 0,1,2"));
        return;
    }
    try {
        spec.config = preset().configFor(currentMethod());
    } catch (const Error &e) {
        QMessageBox::warning(this, tr("Cannot edit"), QString::fromUtf8(e.what()));
        return;
    }
    switch (spec.config.method()) {
    case EditMethod::Memit:
    case EditMethod::AlphaEdit: {
        MemitParams &p = spec.config.memit();
        p.layers = layers;
        p.lambda = m_lambda->value();
        p.nullSpaceThreshold = m_nullThreshold->value();
        p.preserveEarlierRuns = m_keepEarlier->isChecked();
        p.vLr = m_lr->value();
        p.clampNormFactor = m_clamp->value();
        p.vSteps = m_steps->value();
        p.protectWeight = m_protect->value();
        break;
    }
    case EditMethod::Rome:
    case EditMethod::RRome: {
        RomeParams &p = spec.config.rome();
        p.layer = layers.front();
        p.vLr = m_lr->value();
        p.clampNormFactor = m_clamp->value();
        p.vSteps = m_steps->value();
        break;
    }
    case EditMethod::FineTune: {
        FineTuneParams &p = spec.config.fineTune();
        p.layer = layers.front();
        p.lr = m_lr->value();
        p.steps = m_steps->value();
        p.normConstraint = m_norm->value();
        break;
    }
    }
    spec.keepProjectFacts = m_keepFacts->isChecked();
    spec.allowConflicts = m_allowConflicts->isChecked();
    spec.load = loadOptions();
    if (!m_statsFiles.isEmpty())
        spec.statistics = StatisticsSource::fromFiles(statisticsPaths());
    if (!m_statsFiles.isEmpty() && spec.config.needsStatistics()) {
        // Check the chosen files against the layers now (headers only), not after the model loads.
        std::vector<int> have, missing;
        try {
            have = statisticsFileLayers(statisticsPaths());
            missing = missingLayers(have, spec.config.statisticsLayers()); // the headers are read once
        } catch (const Error &e) {
            showNonModal(this, QMessageBox::Warning, tr("Cannot edit"),
                tr("The statistics files cannot be used: %1").arg(QString::fromUtf8(e.what())));
            return;
        }
        if (!missing.empty()) {
            showNonModal(this, QMessageBox::Warning, tr("Cannot edit"),
                tr("The statistics files cover layer(s) %1, but the edit writes layer(s) %2: statistics for "
                   "layer(s) %3 are missing. Add files for them, or choose \"Project corpus\" to compute and "
                   "cache what is needed.")
                    .arg(have.empty() ? tr("none") : layerText(have), m_layers->text(), layerText(missing)));
            return;
        }
    }
    if (m_scope->currentIndex() == 1) {
        spec.factIds = m_selection ? m_selection() : std::vector<int64_t>();
        if (spec.factIds.empty()) {
            QMessageBox::information(this, tr("Nothing selected"), tr("Select facts in the Facts table first."));
            return;
        }
    } else if (m_document->pendingFactIds().empty()) {
        QMessageBox::information(this, tr("Nothing to edit"),
            tr("Every enabled fact is already edited. Import or add facts, or revert a run."));
        return;
    }
    const std::filesystem::path file = m_document->project()->file();
    const QString name = tr("Edit with %1").arg(m_method->currentText());
    setEditInFlight(true);
    m_jobs->submit(
        name, [file, spec](JobContext &context) { return runEditJob(file, spec, context); }, this,
        [this](const EditJobResult &result) {
            m_document->reload();
            if (result.held) {
                // Nothing changed in the model: nothing to score until the user applies it.
                setEditInFlight(false);
                Q_EMIT message(tr("Run %1 is held by the health guard: apply or discard it").arg(result.runId));
                Q_EMIT editFinished(result.runId);
                askAboutHeldRun(result);
                return;
            }
            Q_EMIT message(tr("Run %1 edited %2 fact(s)").arg(result.runId).arg(result.facts));
            Q_EMIT editFinished(result.runId);
            queueEvaluation();
        },
        [this](JobOutcome outcome, const QString &why) {
            setEditInFlight(false);
            if (outcome == JobOutcome::Failed)
                showNonModal(this, QMessageBox::Warning, tr("Edit failed"), why);
        });
}

void EditView::cancelJob()
{
    if (!m_jobs->isBusy())
        return;
    m_stage->setText(tr("Cancelling %1\u2026").arg(m_jobs->currentJob()));
    m_cancel->setEnabled(false); // until the job has stopped (at its next step: well under a second)
    m_jobs->cancel();
}

void EditView::scoreNow()
{
    if (!m_document->isOpen())
        return;
    if (m_editInFlight) {
        Q_EMIT message(tr("The edit in progress is scored when it finishes"));
        return;
    }
    setEditInFlight(true); // an edit now would change the model under the scoring
    queueEvaluation();
}

void EditView::refreshScores()
{
    if (!m_document->isOpen()) {
        m_scoresPanel->showStale(tr("No project open."));
        return;
    }
    std::optional<StoredScores> stored;
    try {
        stored = currentScores(*m_document->project());
    } catch (const Error &e) {
        m_scoresPanel->showStale(tr("The stored scores cannot be read: %1").arg(QString::fromUtf8(e.what())));
        return;
    }
    std::vector<int64_t> applied;
    for (const auto &r : m_document->runs())
        if (r.status == RunStatus::Applied)
            applied.push_back(r.id);
    QStringList runList;
    for (int64_t r : applied)
        runList << QString::number(r);
    const QString model = applied.empty() ? tr("the base model (no run applied)")
                                          : tr("the model after run(s) %1").arg(runList.join(QStringLiteral(", ")));
    if (!stored) {
        m_pre.reset();
        m_post.reset();
        m_retentionPre = m_retentionPost = -1;
        m_scoresPanel->showStale(
            tr("Stale: no stored scores describe %1 (the history changed since the last scoring). Press Score now.")
                .arg(model));
        return;
    }
    m_pre = stored->pre;
    m_post = stored->post;
    m_retentionPre = stored->retentionPre.total ? stored->retentionPre.rate() : -1;
    m_retentionPost = stored->retentionPost.total ? stored->retentionPost.rate() : -1;
    m_scoresPanel->showScores(*m_pre, *m_post, m_retentionPre, m_retentionPost,
        tr("Evaluation %1 (%2): %n fact(s) on the base model and on %3", nullptr, static_cast<int>(m_post->records))
            .arg(stored->evaluation.id)
            .arg(QString::fromStdString(stored->evaluation.createdAt), model));

    // Collateral damage: say it, and list what broke.
    QStringList reasons;
    if (m_retentionPre >= 0 && m_retentionPost >= 0 && 100 * (m_retentionPre - m_retentionPost) >= kDamagePoints)
        reasons << tr("Kept fell %1 \u2192 %2 (%n unedited fact(s) no longer answered)", nullptr,
            static_cast<int>(stored->lostFacts.size()))
                       .arg(100 * m_retentionPre, 0, 'f', 1)
                       .arg(100 * m_retentionPost, 0, 'f', 1);
    for (const auto &[label, before, after] : {std::tuple {tr("NS"), m_pre->ns, m_post->ns},
             std::tuple {tr("NM"), m_pre->nm, m_post->nm}})
        if (before.count && after.count && before.mean - after.mean >= kDamagePoints)
            reasons << tr("%1 fell %2 \u2192 %3").arg(label).arg(before.mean, 0, 'f', 1).arg(after.mean, 0, 'f', 1);
    std::map<int64_t, const Fact *> byId;
    for (const Fact &f : m_document->facts())
        byId[f.id] = &f;
    auto filled = [&](int64_t id) {
        const auto it = byId.find(id);
        if (it == byId.end())
            return tr("fact %1 (removed)").arg(id);
        QString prompt = QString::fromStdString(it->second->promptTemplate);
        prompt.replace(QStringLiteral("{}"), QString::fromStdString(it->second->subject));
        return prompt;
    };
    QStringList broken;
    for (int64_t id : stored->lostFacts) {
        const auto it = byId.find(id);
        broken << tr("Lost #%1: %2 \u2192%3 (no longer the first answer)")
                      .arg(id)
                      .arg(filled(id), it == byId.end() ? QString() : QString::fromStdString(it->second->targetTrue));
    }
    for (const auto &[id, fall] : stored->neighbourhoodFalls)
        if (fall >= 0.25)
            broken << tr("Neighbours of #%1 fell %2 points: %3").arg(id).arg(100 * fall, 0, 'f', 0).arg(filled(id));
    const QString where = broken.isEmpty()
        ? tr("No single fact broke: the fall is spread thinly over many neighbourhood prompts (the Before / after "
             "tab compares them per fact).")
        : tr("The list below names what broke.");
    m_scoresPanel->showDamage(reasons.isEmpty()
            ? QString()
            : tr("Collateral damage: %1. %2").arg(reasons.join(QStringLiteral("; ")), where),
        reasons.isEmpty() ? QStringList() : broken);
}

void EditView::queueEvaluation()
{
    const std::filesystem::path file = m_document->project()->file();
    const QString name = tr("Score the edited facts");
    EvalJobSpec spec;
    spec.load = loadOptions();
    spec.generationInterval = m_fluency->isChecked() ? 1 : 0;
    m_jobs->submit(
        name, [file, spec](JobContext &context) { return runEvalJob(file, spec, context); }, this,
        [this](const EvalJobResult &) {
            setEditInFlight(false);
            m_document->reload();
            refreshScores(); // what was stored, matched to the history as it is now
            Q_EMIT evaluationFinished();
        },
        [this](JobOutcome, const QString &) {
            setEditInFlight(false);
            refreshScores(); // a failed or cancelled scoring changes nothing shown
        });
}

int64_t EditView::selectedRun()
{
    const auto rows = m_history->selectionModel()->selectedRows();
    if (rows.isEmpty() || !m_document->isOpen()) {
        Q_EMIT message(tr("Select a run in the history first"));
        return 0;
    }
    return m_historyModel->runId(rows.front().row());
}

void EditView::revertSelected()
{
    if (const int64_t run = selectedRun())
        revert(run, false);
}

void EditView::reapplySelected()
{
    if (const int64_t run = selectedRun())
        revert(run, true);
}

void EditView::discardSelected()
{
    if (const int64_t run = selectedRun())
        discard(run);
}

void EditView::revert(int64_t run, bool reapply)
{
    if (!m_document->isOpen())
        return;
    const auto record = m_document->project()->run(run);
    const bool held = record && record->status == RunStatus::Held;
    const std::filesystem::path file = m_document->project()->file();
    const QString name = held ? tr("Apply held run %1").arg(run)
        : reapply             ? tr("Re-apply run %1").arg(run)
                              : tr("Revert run %1").arg(run);
    const LoadOptions load = loadOptions();
    m_jobs->submit(
        name, [file, run, reapply, load](JobContext &context) { return revertRun(file, run, reapply, load, context); },
        this,
        [this, name, held](const RevertResult &result) {
            m_document->reload();
            Q_EMIT message(tr("%1: state %2%3")
                               .arg(name, QString::fromStdString(result.stateAfter),
                                   result.verified ? tr(" (verified)") : QString()));
            if (held && !m_editInFlight) { // a held edit, now applied: scored as an edit is
                setEditInFlight(true);
                queueEvaluation();
            }
        });
}

void EditView::discard(int64_t run)
{
    if (!m_document->isOpen())
        return;
    const std::filesystem::path file = m_document->project()->file();
    m_jobs->submit(
        tr("Discard held run %1").arg(run), [file, run](JobContext &) { discardHeldRun(file, run); }, this,
        [this, run] {
            m_document->reload();
            Q_EMIT message(tr("Run %1 discarded: it stays in the history, never applied").arg(run));
        });
}

void EditView::askAboutHeldRun(const EditJobResult &result)
{
    const RunHealth &h = result.health;
    QStringList numbers;
    if (h.esSoFar >= 0)
        numbers << tr("ES over the %1 facts edited so far: %2").arg(h.editedFacts).arg(h.esSoFar, 0, 'f', 1);
    if (h.retentionRatio() >= 0)
        numbers << tr("Retention of the project's %1 other facts: %2 % of the base model's (%3 → %4 recalled)")
                       .arg(h.otherFacts)
                       .arg(100 * h.retentionRatio(), 0, 'f', 1)
                       .arg(100 * h.retentionBase, 0, 'f', 0)
                       .arg(100 * h.retention, 0, 'f', 0);
    if (h.fluency >= 0)
        numbers << tr("Fluency: %1 (base model %2)").arg(h.fluency, 0, 'f', 2).arg(h.fluencyBase, 0, 'f', 2);
    QStringList why;
    for (const auto &b : result.guardBreaches)
        why << QString::fromStdString(b);
    auto *box = new QMessageBox(QMessageBox::Warning, tr("Run %1 held").arg(result.runId),
        tr("Run %1 was computed but not applied: %2.\n\n%3\n\nThe model is as it was. Apply the run anyway, or "
           "discard it? (Later: select it in the history and press Re-apply or Discard.)")
            .arg(result.runId)
            .arg(why.join(QStringLiteral("; ")), numbers.join(QLatin1Char('\n'))),
        QMessageBox::NoButton, this);
    box->setObjectName(QStringLiteral("heldRunDialog"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    auto *apply = box->addButton(tr("Apply anyway"), QMessageBox::AcceptRole);
    apply->setObjectName(QStringLiteral("heldApply"));
    auto *discardButton = box->addButton(tr("Discard"), QMessageBox::DestructiveRole);
    discardButton->setObjectName(QStringLiteral("heldDiscard"));
    box->addButton(tr("Decide later"), QMessageBox::RejectRole)->setObjectName(QStringLiteral("heldLater"));
    const int64_t run = result.runId;
    connect(box, &QMessageBox::buttonClicked, this, [this, run, apply, discardButton](QAbstractButton *button) {
        if (button == apply)
            revert(run, /*reapply=*/true);
        else if (button == discardButton)
            discard(run);
    });
    box->open();
}

void EditView::exportModel(const QString &directory)
{
    if (!m_document->isOpen())
        return;
    QString out = directory;
    if (out.isEmpty())
        out = chooseExportFolder(this, tr("Export Patched Model"),
            QFileInfo(m_document->fileName()).completeBaseName() + QStringLiteral("-patched"));
    if (out.isEmpty())
        return;
    const std::filesystem::path file = m_document->project()->file();
    ExportJobSpec spec;
    spec.out = out.toStdString();
    const QString name = tr("Export to %1").arg(out);
    m_jobs->submit(
        name, [file, spec](JobContext &context) { return runExportJob(file, spec, context); }, this,
        [this, out](const ExportSummary &result) {
            const QString summary = tr("Wrote %1: %2 tensor(s) patched, %3 shard(s) written, %4 linked, %5 file(s) "
                                       "copied; the layout matches the base model.")
                                        .arg(out)
                                        .arg(result.tensorsPatched)
                                        .arg(result.shardsRewritten)
                                        .arg(result.shardsLinked)
                                        .arg(result.filesCopied);
            Q_EMIT message(summary);
            showNonModal(this, QMessageBox::Information, tr("Export finished"), summary);
            Q_EMIT exportFinished(out);
        });
}

void EditView::exportPatch(const QString &file)
{
    if (!m_document->isOpen())
        return;
    QString out = file;
    if (out.isEmpty())
        out = QFileDialog::getSaveFileName(this, tr("Export Patch"), {}, tr("Engram patches (*.patch)"));
    if (out.isEmpty())
        return;
    const std::filesystem::path project = m_document->project()->file();
    const LoadOptions load = loadOptions();
    const QString name = tr("Export patch to %1").arg(out);
    m_jobs->submit(
        name,
        [project, out, load](JobContext &context) { exportPatchFile(project, 0, out.toStdString(), load, context); },
        this,
        [this, out] {
            Q_EMIT message(tr("Wrote the applied runs as one patch to %1 (engram-cli patch import applies it to the "
                              "same base model)")
                               .arg(out));
            Q_EMIT patchExported(out);
        });
}

void EditView::exportLora(const QString &directory, int rank)
{
    if (!m_document->isOpen())
        return;
    QString out = directory;
    if (out.isEmpty()) {
        out = chooseExportFolder(this, tr("Export as LoRA Adapter"),
            QFileInfo(m_document->fileName()).completeBaseName() + QStringLiteral("-lora"));
        if (out.isEmpty())
            return;
        bool ok = false;
        rank = QInputDialog::getInt(this, tr("LoRA rank"),
            tr("Largest rank per layer (0 = exact factors: the rank of each layer's change, at most the number of "
               "edited facts; a smaller rank truncates and reports the error it leaves):"),
            0, 0, 1 << 20, 1, &ok);
        if (!ok)
            return;
    }
    const std::filesystem::path project = m_document->project()->file();
    LoraOptions options;
    options.rank = rank;
    const QString name = tr("Export LoRA adapter to %1").arg(out);
    m_jobs->submit(
        name,
        [project, out, options](JobContext &context) {
            return exportLoraAdapter(project, 0, out.toStdString(), options, context);
        },
        this,
        [this, out](const LoraSummary &result) {
            QString summary = tr("Wrote a LoRA adapter of rank %1 over %n module(s) to %2 (PEFT layout; load it with "
                                 "PeftModel.from_pretrained on the base model).",
                nullptr, static_cast<int>(result.modules.size()))
                                  .arg(result.rank)
                                  .arg(out);
            if (result.maxRelativeError > 1e-4)
                summary += tr(" Truncated: up to %1 % of the change is lost.")
                               .arg(100 * result.maxRelativeError, 0, 'g', 3);
            Q_EMIT message(summary);
            Q_EMIT loraExported(out);
        });
}

void EditView::onProgress(const JobProgress &p)
{
    m_progress->setValue(static_cast<int>(1000 * p.fraction));
    QString text = p.job + QStringLiteral(": ") + p.stage;
    if (p.etaSeconds >= 0)
        text += tr(" \u2014 %1 s left").arg(static_cast<int>(p.etaSeconds + 0.5));
    m_stage->setText(text);
}

void EditView::setBusy(bool busy, int queued)
{
    if (!m_stage->text().startsWith(tr("Cancelling")) || !busy)
        m_cancel->setEnabled(busy);
    if (!busy) {
        m_progress->setValue(0);
        if (!m_stage->text().contains(tr("failed")) && !m_stage->text().contains(tr("cancelled")))
            m_stage->setText(tr("Idle"));
    } else if (queued > 0) {
        m_stage->setText(m_stage->text() + tr(" (%n more queued)", nullptr, queued));
    }
}

} // namespace engram::ui
