#include "ui/util/worddiff.h"

#include <QRegularExpression>

#include <vector>

namespace engram::ui {

namespace {
// Splits into words, each with the whitespace before it, so joining gives the text back.
QStringList words(const QString &text)
{
    QStringList out;
    static const QRegularExpression re(QStringLiteral("\\s*\\S+"));
    auto it = re.globalMatch(text);
    while (it.hasNext())
        out << it.next().captured(0);
    return out;
}
} // namespace

WordDiff diffWords(const QString &before, const QString &after)
{
    WordDiff d;
    d.before = words(before);
    d.after = words(after);
    const auto n = d.before.size(), m = d.after.size();
    // lcs[i][j]: common subsequence length of before[i..] and after[j..], words compared trimmed.
    std::vector<std::vector<int>> lcs(static_cast<std::size_t>(n + 1), std::vector<int>(static_cast<std::size_t>(m + 1)));
    for (auto i = n - 1; i >= 0; --i)
        for (auto j = m - 1; j >= 0; --j)
            lcs[i][j] = d.before[i].trimmed() == d.after[j].trimmed() ? lcs[i + 1][j + 1] + 1
                                                                       : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    for (int i = 0; i < n; ++i)
        d.beforeChanged << true;
    for (int j = 0; j < m; ++j)
        d.afterChanged << true;
    qsizetype i = 0, j = 0;
    while (i < n && j < m) {
        if (d.before[i].trimmed() == d.after[j].trimmed()) {
            d.beforeChanged[i++] = false;
            d.afterChanged[j++] = false;
        } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
            ++i;
        } else {
            ++j;
        }
    }
    return d;
}

QString highlightedHtml(const QStringList &words, const QList<bool> &changed, const QString &color)
{
    QString html;
    for (qsizetype i = 0; i < words.size(); ++i) {
        const QString w = words[i].toHtmlEscaped();
        if (changed.value(i)) {
            const auto lead = w.size() - w.trimmed().size();
            html += w.left(lead) + QStringLiteral("<b style=\"background-color:%1\">").arg(color) + w.mid(lead)
                + QStringLiteral("</b>");
        } else {
            html += w;
        }
    }
    return html;
}

} // namespace engram::ui
