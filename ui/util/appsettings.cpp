#include "ui/util/appsettings.h"

namespace engram::ui {
namespace {
const auto kGeometry = QStringLiteral("window/geometry");
const auto kState = QStringLiteral("window/state");
const auto kRecentModels = QStringLiteral("models/recent");
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
    QStringList list = recentModels();
    list.removeAll(directory);
    list.prepend(directory);
    while (list.size() > kMaxRecent)
        list.removeLast();
    m_settings.setValue(kRecentModels, list);
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

} // namespace engram::ui
