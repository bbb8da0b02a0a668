#pragma once
// The one choice the Trace and Locate tabs share: which model a job reads.

class QComboBox;
class QString;
class QWidget;

namespace engram::ui {

/// A combo box of "Checkpoint as stored" (item data false) and "Current model (the project's
/// applied runs)" (true), the checkpoint selected.
QComboBox *newModelChoice(QWidget *parent, const QString &objectName, const QString &toolTip);

} // namespace engram::ui
