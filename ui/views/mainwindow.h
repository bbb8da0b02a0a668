#pragma once
// MainWindow: the workbench shell. Holds the dockable panels, the menus and the status bar;
// restores its geometry and dock layout from AppSettings.

#include <QMainWindow>

class QLabel;
class QMenu;

namespace engram::ui {

class CheckpointPanel;
class TraceView;

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    CheckpointPanel *checkpointPanel() const { return m_checkpointPanel; }
    TraceView *traceView() const { return m_traceView; }

public Q_SLOTS:
    /// Shows the model in `directory` (asynchronously) and remembers it in the recent list.
    void openModel(const QString &directory);
    void chooseModel();

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void createMenus();
    void rebuildRecentMenu();
    void showAbout();

    CheckpointPanel *m_checkpointPanel = nullptr;
    TraceView *m_traceView = nullptr;
    QMenu *m_recentMenu = nullptr;
    QLabel *m_runtimeLabel = nullptr;
};

} // namespace engram::ui
