#pragma once
// MainWindow: the workbench shell. Holds the dockable panels, the menus and the status bar;
// restores its geometry and dock layout from AppSettings.

#include <QMainWindow>

class QLabel;
class QMenu;

namespace engram::ui {

class CheckpointPanel;
class CompareView;
class EditView;
class FactsView;
class JobController;
class LocateView;
class ProbeView;
class ProjectDocument;
class TraceView;

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    CheckpointPanel *checkpointPanel() const { return m_checkpointPanel; }
    TraceView *traceView() const { return m_traceView; }
    FactsView *factsView() const { return m_factsView; }
    EditView *editView() const { return m_editView; }
    CompareView *compareView() const { return m_compareView; }
    LocateView *locateView() const { return m_locateView; }
    ProbeView *probeView() const { return m_probeView; }
    ProjectDocument *document() const { return m_document; }
    JobController *jobs() const { return m_jobs; }

public Q_SLOTS:
    /// Shows the model in `directory` (asynchronously) and remembers it in the recent list.
    void openModel(const QString &directory);
    void chooseModel();
    /// Opens a project file (and its model). Returns false, after telling the user, on failure.
    bool openProject(const QString &file);
    void chooseProject();
    void newProject();
    void showStatus(const QString &text);

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void createMenus();
    void rebuildRecentMenu();
    void rebuildRecentProjectsMenu();
    void showAbout();

    CheckpointPanel *m_checkpointPanel = nullptr;
    TraceView *m_traceView = nullptr;
    QMenu *m_recentMenu = nullptr;
    QMenu *m_recentProjectsMenu = nullptr;
    QLabel *m_runtimeLabel = nullptr;
    QLabel *m_jobLabel = nullptr;
    ProjectDocument *m_document = nullptr;
    JobController *m_jobs = nullptr;
    FactsView *m_factsView = nullptr;
    EditView *m_editView = nullptr;
    CompareView *m_compareView = nullptr;
    LocateView *m_locateView = nullptr;
    ProbeView *m_probeView = nullptr;
};

} // namespace engram::ui
