#include "ui/util/appsettings.h"

namespace engram::ui {
namespace {
const auto kGeometry = QStringLiteral("window/geometry");
const auto kState = QStringLiteral("window/state");
const auto kRecentModels = QStringLiteral("models/recent");
const auto kRecentProjects = QStringLiteral("projects/recent");

void prependBounded(QSettings &settings, const QString &key, const QString &value, int max)
{
    QStringList list = settings.value(key).toStringList();
    list.removeAll(value);
    list.prepend(value);
    while (list.size() > max)
        list.removeLast();
    settings.setValue(key, list);
}
} // namespace

AppSettings::AppSettings() = default;

QByteArray AppSettings::windowGeometry() const
{
    return m_settings.value(kGeometry).toByteArray();
}
void AppSettings::setWindowGeometry(const QByteArray &geometry)
{
    m_settings.setValue(kGeometry, geometry);
}
QByteArray AppSettings::windowState() const
{
    return m_settings.value(kState).toByteArray();
}
void AppSettings::setWindowState(const QByteArray &state)
{
    m_settings.setValue(kState, state);
}

QStringList AppSettings::recentModels() const
{
    return m_settings.value(kRecentModels).toStringList();
}

void AppSettings::addRecentModel(const QString &directory)
{
    prependBounded(m_settings, kRecentModels, directory, kMaxRecent);
}

void AppSettings::clearRecentModels()
{
    m_settings.remove(kRecentModels);
}

QString AppSettings::lastModelDirectory() const
{
    const QStringList list = recentModels();
    return list.isEmpty() ? QString() : list.first();
}

QStringList AppSettings::recentProjects() const
{
    return m_settings.value(kRecentProjects).toStringList();
}

void AppSettings::addRecentProject(const QString &file)
{
    prependBounded(m_settings, kRecentProjects, file, kMaxRecent);
}

void AppSettings::clearRecentProjects()
{
    m_settings.remove(kRecentProjects);
}

} // namespace engram::ui
