#pragma once
// FactsModel: the project's facts as a table (enabled check box, subject, relation, prompt,
// true and new object, tags, status with conflict markers). Edits go through the document's
// undo stack and are validated first (exactly one {} in the prompt; subject and new object
// not empty); a rejected edit is reported through editRejected(). FactsFilter narrows the
// rows by relation, tag and free text.

#include "core/project/project.h"

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>

#include <optional>

namespace engram::ui {

class ProjectDocument;

class FactsModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Enabled, Id, Subject, Relation, Prompt, TargetTrue, TargetNew, Tags, Status, ColumnCount };
    static constexpr int FactIdRole = Qt::UserRole + 1;
    static constexpr int ConflictRole = Qt::UserRole + 2;

    explicit FactsModel(ProjectDocument *document, QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    bool setData(const QModelIndex &index, const QVariant &value, int role = Qt::EditRole) override;
    /// What is wrong with `text` as the new value of the cell at `index` (empty: acceptable).
    QString validate(const QModelIndex &index, const QString &text) const;

Q_SIGNALS:
    void editRejected(const QString &message);

private:
    QString conflictText(int64_t factId) const;
    std::optional<Fact> withEdit(const QModelIndex &index, const QVariant &value, int role) const;
    ProjectDocument *m_document;
};

class FactsFilter : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    using QSortFilterProxyModel::QSortFilterProxyModel;
    void setRelation(const QString &relation);
    void setTag(const QString &tag);
    void setText(const QString &text);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;
    bool lessThan(const QModelIndex &left, const QModelIndex &right) const override;

private:
    QString m_relation, m_tag, m_text;
};

} // namespace engram::ui
