#include "ui/util/modelchoice.h"

#include <QComboBox>
#include <QCoreApplication>

namespace engram::ui {

QComboBox *newModelChoice(QWidget *parent, const QString &objectName, const QString &toolTip)
{
    auto *box = new QComboBox(parent);
    box->setObjectName(objectName);
    box->addItem(QCoreApplication::translate("ModelChoice", "Checkpoint as stored"), false);
    box->addItem(QCoreApplication::translate("ModelChoice", "Current model (the project's applied runs)"), true);
    box->setToolTip(toolTip);
    return box;
}

} // namespace engram::ui
