// Draws Engram's icon (packaging/icons/io.engram.Engram.svg: the same shapes) into PNG files
// of the sizes the hicolor theme wants. Usage: make_icons OUTDIR  (writes OUTDIR/<size>.png)

#include <QDir>
#include <QGuiApplication>
#include <QImage>
#include <QLinearGradient>
#include <QPainter>
#include <QPainterPath>

#include <cstdio>

namespace {
void drawIcon(QPainter &p)
{
    // In the SVG's 256-unit coordinates.
    QLinearGradient tile(0, 8, 0, 248);
    tile.setColorAt(0, QColor(0x6d, 0x4f, 0xc2));
    tile.setColorAt(1, QColor(0x3f, 0x2a, 0x80));
    QPainterPath rounded;
    rounded.addRoundedRect(QRectF(8, 8, 240, 240), 48, 48);
    p.fillPath(rounded, tile);
    QPen edge(QColor(255, 255, 255, 140), 8, Qt::SolidLine, Qt::RoundCap);
    p.setPen(edge);
    const QLineF edges[] = {{64, 80, 128, 128}, {64, 176, 128, 128}, {64, 80, 128, 64}, {64, 176, 128, 192},
        {128, 64, 192, 96}, {128, 192, 192, 160}, {128, 192, 192, 96}};
    for (const auto &e : edges)
        p.drawLine(e);
    const QColor amber(0xff, 0xc1, 0x07);
    p.setPen(QPen(amber, 12, Qt::SolidLine, Qt::RoundCap));
    p.drawLine(QLineF(128, 128, 192, 160));
    p.setPen(Qt::NoPen);
    p.setBrush(Qt::white);
    for (const QPointF c : {QPointF(64, 80), QPointF(64, 176), QPointF(128, 64), QPointF(128, 192), QPointF(192, 96)})
        p.drawEllipse(c, 18, 18);
    p.setBrush(amber);
    p.drawEllipse(QPointF(128, 128), 22, 22);
    p.drawEllipse(QPointF(192, 160), 22, 22);
}
} // namespace

int main(int argc, char **argv)
{
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QGuiApplication app(argc, argv);
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_icons OUTDIR\n");
        return 2;
    }
    QDir().mkpath(QString::fromLocal8Bit(argv[1]));
    for (int size : {16, 22, 24, 32, 48, 64, 128, 256}) {
        QImage image(size, size, QImage::Format_ARGB32_Premultiplied);
        image.fill(Qt::transparent);
        QPainter p(&image);
        p.setRenderHint(QPainter::Antialiasing);
        p.scale(size / 256.0, size / 256.0);
        drawIcon(p);
        p.end();
        const QString file = QDir(QString::fromLocal8Bit(argv[1])).filePath(QStringLiteral("%1.png").arg(size));
        if (!image.save(file)) {
            std::fprintf(stderr, "make_icons: cannot write %s\n", qPrintable(file));
            return 1;
        }
    }
    return 0;
}
