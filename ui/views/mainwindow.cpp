#include "ui/views/mainwindow.h"

#include "core/jobs/projectjobs.h"
#include "core/model/modelinfo.h"
#include "core/util/error.h"
#include "ui/jobs/jobcontroller.h"
#include "ui/models/projectdocument.h"
#include "ui/util/appsettings.h"
#include "ui/views/checkpointpanel.h"
#include "ui/views/compareview.h"
#include "ui/views/editview.h"
#include "ui/views/factsview.h"
#include "ui/views/locateview.h"
#include "ui/views/probeview.h"
#include "ui/views/traceview.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QItemSelectionModel>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QTimer>
#include <QUndoStack>
#include <QVBoxLayout>

#include <unistd.h>

namespace engram::ui {

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent)
{
    setObjectName(QStringLiteral("MainWindow"));
    setWindowTitle(tr("Engram"));
    resize(1100, 720);

    auto *welcome = new QLabel(this);
    welcome->setObjectName(QStringLiteral("welcomePage"));
    welcome->setAlignment(Qt::AlignCenter);
    welcome->setWordWrap(true);
    welcome->setTextFormat(Qt::RichText);
    welcome->setText(tr("<h2>Engram</h2>"
                        "<p>A workbench for editing the factual knowledge of language models.</p>"
                        "<p><b>Facts</b>: the project's facts \u2014 import a CounterFact, zsRE or CSV file, "
                        "edit cells in place, Ctrl+Z undoes.<br><b>Probe</b>: what the model answers about a "
                        "subject for every relation of the project, before and after the edits; a row becomes a "
                        "fact.<br><b>Edit</b>: "
                        "choose a method and layers, press Edit (Ctrl+E), compare the scores before and after, "
                        "revert a run, export the patched model.<br><b>Before / after</b>: generations of the base "
                        "and the edited model side by side.<br><b>Causal trace</b>: see where the model stores a "
                        "fact.<br><b>Where facts live</b>: the layers that matter most, averaged over many facts; "
                        "it suggests the layers to edit.</p>"
                        "<p>Projects: <b>File \u2192 New Project\u2026</b> (Ctrl+N) or <b>Open Project\u2026</b> "
                        "(Ctrl+Shift+O). Models alone: <b>Open Model\u2026</b> (Ctrl+O). Ctrl+. cancels the "
                        "running job.</p>"));
    m_document = new ProjectDocument(this);
    m_jobs = new JobController(this);
    auto *tabs = new QTabWidget(this);
    tabs->setObjectName(QStringLiteral("centralTabs"));
    tabs->addTab(welcome, tr("Welcome"));
    m_factsView = new FactsView(m_document, tabs);
    tabs->addTab(m_factsView, tr("Facts"));
    m_probeView = new ProbeView(m_document, m_jobs, tabs);
    tabs->addTab(m_probeView, tr("Probe"));
    m_editView = new EditView(m_document, m_jobs, tabs);
    m_editView->setSelectionProvider([this] { return m_factsView->selectedFactIds(); });
    connect(m_factsView->table()->selectionModel(), &QItemSelectionModel::selectionChanged, m_editView,
        &EditView::selectionChanged);
    tabs->addTab(m_editView, tr("Edit"));
    m_compareView = new CompareView(m_document, m_jobs, tabs);
    tabs->addTab(m_compareView, tr("Before / after"));
    connect(m_editView, &EditView::evaluationFinished, m_compareView, &CompareView::refresh);
    m_traceView = new TraceView(m_jobs, tabs);
    tabs->addTab(m_traceView, tr("Causal trace"));
    m_locateView = new LocateView(m_document, m_jobs, tabs);
    tabs->addTab(m_locateView, tr("Where facts live"));
    connect(m_factsView, &FactsView::traceRequested, this, [this, tabs](const QString &prompt, const QString &subject) {
        m_traceView->setPrompt(prompt, subject);
        tabs->setCurrentWidget(m_traceView);
        m_traceView->startTrace();
    });
    connect(m_locateView, &LocateView::layersChosen, this, [this, tabs](const QString &layers) {
        m_editView->setLayers(layers);
        tabs->setCurrentWidget(m_editView);
    });
    setCentralWidget(tabs);

    auto *dock = new QDockWidget(tr("Model"), this);
    dock->setObjectName(QStringLiteral("modelDock"));
    m_checkpointPanel = new CheckpointPanel(dock);
    dock->setWidget(m_checkpointPanel);
    addDockWidget(Qt::LeftDockWidgetArea, dock);
    // Narrow by default so the tabs get the room at the default 1100 x 720 (restored layouts win).
    resizeDocks({dock}, {250}, Qt::Horizontal);

    createMenus();

    const RuntimeInfo rt = runtimeInfo();
    m_runtimeLabel = new QLabel(
        tr("Device: %1 \u00b7 LibTorch %2 \u00b7 %n CPU thread(s)", nullptr, rt.threads)
            .arg(rt.cudaAvailable ? tr("CUDA available") : tr("CPU"), QString::fromStdString(rt.torchVersion)),
        this);
    // Resident memory of the process (model weights, activations, caches), every 2 s.
    auto *memoryLabel = new QLabel(this);
    memoryLabel->setObjectName(QStringLiteral("memoryLabel"));
    memoryLabel->setToolTip(tr("Memory this process uses (resident set)"));
    auto updateMemory = [memoryLabel] {
        QFile statm(QStringLiteral("/proc/self/statm"));
        if (!statm.open(QIODevice::ReadOnly))
            return;
        const QList<QByteArray> fields = statm.readAll().split(' ');
        if (fields.size() < 2)
            return;
        const double bytes = fields[1].toDouble() * static_cast<double>(sysconf(_SC_PAGESIZE));
        memoryLabel->setText(tr("Memory: %1 MiB").arg(bytes / (1024.0 * 1024.0), 0, 'f', 0));
    };
    updateMemory();
    auto *memoryTimer = new QTimer(this);
    connect(memoryTimer, &QTimer::timeout, this, updateMemory);
    memoryTimer->start(2000);
    statusBar()->addPermanentWidget(memoryLabel);
    m_jobLabel = new QLabel(this);
    m_jobLabel->setObjectName(QStringLiteral("jobLabel"));
    statusBar()->addPermanentWidget(m_jobLabel);
    statusBar()->addPermanentWidget(m_runtimeLabel);
    connect(m_jobs, &JobController::busyChanged, this, [this](bool busy, int queued) {
        m_jobLabel->setText(busy
                ? tr("Running: %1%2").arg(m_jobs->currentJob(), queued ? tr(" (+%1 queued)").arg(queued) : QString())
                : QString());
    });
    connect(m_factsView, &FactsView::message, this, &MainWindow::showStatus);
    connect(m_probeView, &ProbeView::message, this, &MainWindow::showStatus);
    connect(m_factsView, &FactsView::factAddedWithoutTrueObject, m_probeView, &ProbeView::completeFact);
    connect(m_editView, &EditView::message, this, &MainWindow::showStatus);
    connect(m_document, &ProjectDocument::opened, this,
        [this](const QString &file) { setWindowTitle(tr("%1 \u2014 Engram").arg(QFileInfo(file).fileName())); });
    statusBar()->showMessage(tr("Ready"), 3000);

    connect(m_checkpointPanel, &CheckpointPanel::summaryReady, this, [this](const QString &dir) {
        statusBar()->showMessage(tr("Opened %1").arg(dir), 5000);
        m_traceView->setModelDirectory(dir);
        // "Current model" means the open project's: offered only while the project's model is shown.
        const bool projectModel = m_document->isOpen()
            && QDir(QString::fromStdString(m_document->project()->model().path.string())) == QDir(dir);
        m_traceView->setProjectFile(projectModel ? m_document->fileName() : QString());
        // The embedded demo comes with a fact to try.
        if (!m_traceView->hasPrompt() && QDir(dir).exists(QStringLiteral("../world.json"))
            && dir.endsWith(QStringLiteral("demo/model")))
            m_traceView->setPrompt(QStringLiteral("Oscar Koutex was born in"), QStringLiteral("Oscar Koutex"));
    });
    connect(
        m_traceView, &TraceView::traceFinished, this, [this] { statusBar()->showMessage(tr("Trace finished"), 5000); });
    connect(m_checkpointPanel, &CheckpointPanel::failed, this, [this](const QString &dir, const QString &message) {
        statusBar()->showMessage(tr("Cannot open %1").arg(dir), 5000);
        QMessageBox::warning(this, tr("Cannot open model"), message);
    });

    AppSettings settings;
    restoreGeometry(settings.windowGeometry());
    restoreState(settings.windowState());
}

MainWindow::~MainWindow() = default;

void MainWindow::showStatus(const QString &text)
{
    statusBar()->showMessage(text, 8000);
}

void MainWindow::createMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *newProject = file->addAction(tr("&New Project\u2026"), this, &MainWindow::newProject);
    newProject->setShortcut(QKeySequence::New);
    newProject->setToolTip(tr("Start a project (one .engram file) on a Hugging Face model directory"));
    QAction *openProject = file->addAction(tr("Open &Project\u2026"), this, &MainWindow::chooseProject);
    openProject->setShortcut(QKeySequence(tr("Ctrl+Shift+O")));
    m_recentProjectsMenu = file->addMenu(tr("Recent Pro&jects"));
    rebuildRecentProjectsMenu();
    file->addAction(tr("&Import Facts\u2026"), m_factsView, [this] { m_factsView->importFile(); })
        ->setShortcut(QKeySequence(tr("Ctrl+I")));
    file->addAction(tr("Export &Facts\u2026"), m_factsView, [this] { m_factsView->exportFacts(); });
    file->addAction(tr("E&xport Patched Model\u2026"), m_editView, [this] { m_editView->exportModel(); });
    file->addAction(tr("Export P&atch\u2026"), m_editView, [this] { m_editView->exportPatch(); });
    file->addAction(tr("Export as &LoRA Adapter\u2026"), m_editView, [this] { m_editView->exportLora(); })
        ->setToolTip(tr("The applied runs as a PEFT LoRA adapter: serve the edits beside the unchanged base model"));
    file->addSeparator();
    QAction *open = file->addAction(tr("&Open Model\u2026"), this, &MainWindow::chooseModel);
    open->setShortcut(QKeySequence::Open);
    open->setToolTip(tr("Inspect a Hugging Face model directory (config.json + safetensors + tokenizer)"));
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    rebuildRecentMenu();
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence(tr("Ctrl+Q"))); // QKeySequence::Quit is empty on some platform themes

    QMenu *edit = menuBar()->addMenu(tr("&Edit"));
    QAction *undo = m_document->undoStack()->createUndoAction(this, tr("&Undo"));
    undo->setShortcut(QKeySequence::Undo);
    QAction *redo = m_document->undoStack()->createRedoAction(this, tr("&Redo"));
    redo->setShortcut(QKeySequence::Redo);
    edit->addAction(undo);
    edit->addAction(redo);
    edit->addSeparator();
    QAction *runEdit = edit->addAction(tr("Run &Edit"), m_editView, &EditView::startEdit);
    runEdit->setObjectName(QStringLiteral("actionRunEdit"));
    runEdit->setShortcut(QKeySequence(tr("Ctrl+E")));
    runEdit->setToolTip(tr("Edit the pending (or selected) facts with the Edit tab's settings"));
    connect(m_editView, &EditView::editAvailableChanged, runEdit, &QAction::setEnabled);
    QAction *cancel = edit->addAction(tr("&Cancel Job"), m_editView, &EditView::cancelJob);
    cancel->setObjectName(QStringLiteral("actionCancelJob"));
    cancel->setShortcut(QKeySequence(tr("Ctrl+.")));
    cancel->setEnabled(false); // only while a job runs
    connect(m_jobs, &JobController::busyChanged, cancel, [cancel](bool busy, int) { cancel->setEnabled(busy); });

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About Engram"), this, &MainWindow::showAbout);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

void MainWindow::rebuildRecentMenu()
{
    m_recentMenu->clear();
    const QStringList recent = AppSettings().recentModels();
    for (const QString &dir : recent)
        m_recentMenu->addAction(dir, this, [this, dir] { openModel(dir); });
    if (!recent.isEmpty()) {
        m_recentMenu->addSeparator();
        m_recentMenu->addAction(tr("Clear List"), this, [this] {
            AppSettings().clearRecentModels();
            rebuildRecentMenu();
        });
    }
    m_recentMenu->setEnabled(!recent.isEmpty());
}

void MainWindow::rebuildRecentProjectsMenu()
{
    m_recentProjectsMenu->clear();
    const QStringList recent = AppSettings().recentProjects();
    for (const QString &file : recent)
        m_recentProjectsMenu->addAction(file, this, [this, file] { openProject(file); });
    if (!recent.isEmpty()) {
        m_recentProjectsMenu->addSeparator();
        m_recentProjectsMenu->addAction(tr("Clear List"), this, [this] {
            AppSettings().clearRecentProjects();
            rebuildRecentProjectsMenu();
        });
    }
    m_recentProjectsMenu->setEnabled(!recent.isEmpty());
}

bool MainWindow::openProject(const QString &file)
{
    if (m_jobs->isBusy()) {
        QMessageBox::information(this, tr("A job is running"), tr("Wait for the running job or cancel it first."));
        return false;
    }
    try {
        m_document->open(file);
    } catch (const Error &e) {
        QMessageBox::warning(this, tr("Cannot open project"), QString::fromUtf8(e.what()));
        return false;
    }
    AppSettings().addRecentProject(file);
    rebuildRecentProjectsMenu();
    showStatus(tr("Opened project %1").arg(file));
    const QString model = QString::fromStdString(m_document->project()->model().path.string());
    m_traceView->setModelDirectory(model); // now, not when the model panel has read the summary
    m_traceView->setProjectFile(file);
    std::vector<std::string> subjects; // the noise scale from the project's subjects, as `trace FILE` does
    for (const auto &f : m_document->project()->facts())
        subjects.push_back(f.subject);
    m_traceView->setNoiseSubjects(std::move(subjects));
    openModel(model);
    if (auto *tabs = findChild<QTabWidget *>(QStringLiteral("centralTabs")))
        tabs->setCurrentWidget(m_factsView);
    return true;
}

void MainWindow::chooseProject()
{
    const QString file = QFileDialog::getOpenFileName(this, tr("Open Project"), {}, tr("Engram projects (*.engram)"));
    if (!file.isEmpty())
        openProject(file);
}

void MainWindow::newProject()
{
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Model for the New Project (Hugging Face directory)"), AppSettings().lastModelDirectory());
    if (dir.isEmpty())
        return;
    QString file = QFileDialog::getSaveFileName(this, tr("New Project"), {}, tr("Engram projects (*.engram)"));
    if (file.isEmpty())
        return;
    if (!file.endsWith(QStringLiteral(".engram")))
        file += QStringLiteral(".engram");
    if (QFileInfo::exists(file)) {
        QMessageBox::warning(this, tr("Cannot create project"),
            tr("%1 already exists; choose another name (a project file is never overwritten).").arg(file));
        return;
    }
    // Hashing the checkpoint reads every weight file (seconds per 10 GB): a job, not the GUI thread.
    m_jobs->submit(
        tr("Create project %1").arg(QFileInfo(file).fileName()),
        [file = file.toStdString(), dir = dir.toStdString()](JobContext &context) {
            context.stage("hashing the checkpoint");
            const ProjectModel model = describeProjectModel(dir);
            Project::create(file, model).reset();
        },
        this, [this, file] { openProject(file); },
        [this](JobOutcome outcome, const QString &message) {
            if (outcome == JobOutcome::Failed)
                QMessageBox::warning(this, tr("Cannot create project"), message);
        });
}

void MainWindow::chooseModel()
{
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Open Hugging Face Model Directory"), AppSettings().lastModelDirectory());
    if (!dir.isEmpty())
        openModel(dir);
}

void MainWindow::openModel(const QString &directory)
{
    AppSettings().addRecentModel(directory);
    rebuildRecentMenu();
    m_checkpointPanel->showCheckpoint(directory);
}

void MainWindow::showAbout()
{
    QMessageBox::about(this, tr("About Engram"),
        tr("<h3>Engram %1</h3><p>Knowledge-editing workbench for transformer language models.</p>")
            .arg(QStringLiteral(ENGRAM_VERSION)));
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (m_jobs->isBusy()
        && QMessageBox::question(this, tr("A job is running"),
               tr("%1 is still running. Cancel it and quit? The project keeps its last saved state.")
                   .arg(m_jobs->currentJob()))
            != QMessageBox::Yes) {
        event->ignore();
        return;
    }
    AppSettings settings;
    settings.setWindowGeometry(saveGeometry());
    settings.setWindowState(saveState());
    event->accept();
}

} // namespace engram::ui
