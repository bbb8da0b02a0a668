#pragma once
// QCustomPlot's header uses Qt's lowercase keywords (signals, slots, emit, foreach), which the
// project's compile policy disables (QT_NO_KEYWORDS, QT_NO_FOREACH). Include QCustomPlot only
// through this header: it maps those words for the library's header alone.

#define signals Q_SIGNALS
#define slots Q_SLOTS
#define emit Q_EMIT
#define foreach(variable, container) for (variable : container)
#include <qcustomplot.h>
#undef foreach
#undef emit
#undef slots
#undef signals
