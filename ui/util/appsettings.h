#pragma once
// Typed access to the application's QSettings: every key in one place, with defaults.
// Settings hold user preferences and window state; experiment data belongs in projects.

#include <QByteArray>
#include <QSettings>
#include <QString>
#include <QStringList>

namespace engram::ui {

class AppSettings
{
public:
    AppSettings();

    QByteArray windowGeometry() const;
    void setWindowGeometry(const QByteArray &geometry);
    QByteArray windowState() const;
    void setWindowState(const QByteArray &state);

    /// Most recent first, at most kMaxRecent entries, no duplicates.
    QStringList recentModels() const;
    void addRecentModel(const QString &directory);
    void clearRecentModels();

    QString lastModelDirectory() const;

    /// Project files, most recent first (same rules as the models).
    QStringList recentProjects() const;
    void addRecentProject(const QString &file);
    void clearRecentProjects();

    static constexpr int kMaxRecent = 8;

private:
    QSettings m_settings;
};

} // namespace engram::ui
