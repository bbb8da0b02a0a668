#include "ui/views/mainwindow.h"

#include "core/model/modelinfo.h"
#include "ui/util/appsettings.h"
#include "ui/views/checkpointpanel.h"
#include "ui/views/traceview.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

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
                        "<p>This project is empty. The Model panel shows the open model; open another "
                        "Hugging Face model directory with <b>File \u2192 Open Model\u2026</b> (Ctrl+O).</p>"
                        "<p>The <b>Causal trace</b> tab shows where the model stores a fact.</p>"));
    auto *tabs = new QTabWidget(this);
    tabs->setObjectName(QStringLiteral("centralTabs"));
    tabs->addTab(welcome, tr("Welcome"));
    m_traceView = new TraceView(tabs);
    tabs->addTab(m_traceView, tr("Causal trace"));
    setCentralWidget(tabs);

    auto *dock = new QDockWidget(tr("Model"), this);
    dock->setObjectName(QStringLiteral("modelDock"));
    m_checkpointPanel = new CheckpointPanel(dock);
    dock->setWidget(m_checkpointPanel);
    addDockWidget(Qt::LeftDockWidgetArea, dock);

    createMenus();

    const RuntimeInfo rt = runtimeInfo();
    m_runtimeLabel = new QLabel(
        tr("Device: %1 \u00b7 LibTorch %2 \u00b7 %n CPU thread(s)", nullptr, rt.threads)
            .arg(rt.cudaAvailable ? tr("CUDA available") : tr("CPU"), QString::fromStdString(rt.torchVersion)),
        this);
    statusBar()->addPermanentWidget(m_runtimeLabel);
    statusBar()->showMessage(tr("Ready"), 3000);

    connect(m_checkpointPanel, &CheckpointPanel::summaryReady, this, [this](const QString &dir) {
        statusBar()->showMessage(tr("Opened %1").arg(dir), 5000);
        m_traceView->setModelDirectory(dir);
        // The embedded demo comes with a fact to try.
        if (QDir(dir).exists(QStringLiteral("../world.json")) && dir.endsWith(QStringLiteral("demo/model")))
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

void MainWindow::createMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *open = file->addAction(tr("&Open Model\u2026"), this, &MainWindow::chooseModel);
    open->setShortcut(QKeySequence::Open);
    open->setToolTip(tr("Inspect a Hugging Face model directory (config.json + safetensors + tokenizer)"));
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    rebuildRecentMenu();
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

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
    AppSettings settings;
    settings.setWindowGeometry(saveGeometry());
    settings.setWindowState(saveState());
    event->accept();
}

} // namespace engram::ui
