#pragma once
// Word-level comparison of two texts for showing generations side by side: the longest
// common subsequence of words marks what stayed; the rest is highlighted.

#include <QString>
#include <QStringList>

namespace engram::ui {

struct WordDiff {
    QStringList before, after; // the texts split into words (whitespace kept with the word)
    QList<bool> beforeChanged, afterChanged; // true: not in the common subsequence
};

WordDiff diffWords(const QString &before, const QString &after);

/// HTML of `words` with the changed ones wrapped in <b style=...> (escaped).
QString highlightedHtml(const QStringList &words, const QList<bool> &changed, const QString &color);

} // namespace engram::ui
