"""The confusion matrix painted with Qt: names in any script, 77 labels, zoom, dark schemes.

The README's matrix pictures come from the screenshot test::

    DRIFTLESS_SCREENSHOTS=docs/screenshots QT_QPA_PLATFORM=offscreen \\
        .venv/bin/python -m pytest tests/gui/classify/test_matrix.py -k screenshot
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPalette, QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget
from pytestqt.qtbot import QtBot

from app.cli.classify_output import draw_matrix
from app.core.classify import Scores, score
from app.ui import colors
from app.ui.classify.matrix import ConfusionMatrixView
from app.ui.matrix_picture import (
    MIN_CONTRAST,
    TextBox,
    cell_fill,
    cell_text,
    contrast,
    layout_matrix,
    render_matrix,
)
from tests.gui.test_first_run import dark_palette

ROOT = Path(__file__).resolve().parents[3]
BANKING77 = Path("/work/shared/data/banking77_train.csv")
WORLD = ("négatif", "Überweisung", "退款", "positive")


def world_scores() -> Scores:
    gold = [0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3]
    predicted = [0, 0, 1, 1, 1, 1, 2, 2, 0, 3, 3, 3, 0, 3]
    return score(WORLD, gold, predicted)


def intents() -> list[str]:
    """Banking77's 77 intents, or names as long as theirs when the data file is absent."""
    if BANKING77.is_file():
        with BANKING77.open(encoding="utf-8", newline="") as f:
            return sorted({row["category"] for row in csv.DictReader(f)})
    return [f"intent_{i:02d}_transfer_not_received_by_recipient"[: 12 + i % 30] for i in range(77)]


def many_scores() -> Scores:
    labels = intents()
    k = len(labels)
    gold = [i % k for i in range(40 * k)]
    predicted = [g if i % 5 else (g * 7 + i) % k for i, g in enumerate(gold)]
    return score(labels, gold, predicted)


def ink(image: QImage, rect: QRectF, background: QColor) -> int:
    """How many pixels inside a box differ from the background."""
    box = rect.toAlignedRect().intersected(image.rect())
    return sum(
        image.pixelColor(x, y) != background
        for x in range(box.left(), box.right() + 1)
        for y in range(box.top(), box.bottom() + 1)
    )


def test_the_cli_picture_writes_names_in_any_script(qapp: QApplication, tmp_path: Path) -> None:
    scores = world_scores()
    draw_matrix(tmp_path / "cm.png", scores, "prompt on smollm2")
    image = QImage(str(tmp_path / "cm.png"))
    assert not image.isNull()
    layout = layout_matrix(scores, "prompt on smollm2")
    assert (image.width(), image.height()) == (layout.width, layout.height)
    # Names as they are, on both axes: not upper-cased, no "?" for what ASCII lacks.
    assert [b.text for b in layout.rows] == list(WORLD) == [b.text for b in layout.columns]
    axis_texts = {layout.gold_axis.text, layout.predicted_axis.text}
    assert axis_texts == {"Gold label", "Predicted label"}
    background = QApplication.palette().color(QPalette.ColorRole.Base)
    for box in (*layout.rows, *layout.columns, layout.gold_axis, layout.predicted_axis):
        assert ink(image, box.rect, background) > 15, f"{box.text!r} was not drawn"
    # Another name of the same length draws other pixels: the glyphs are the names' own.
    other = score(("négatif", "Überweisung", "退货", "positive"), [0, 1, 2, 3], [0, 1, 2, 3])
    twin = render_matrix(other, "prompt on smollm2")
    refund = layout.rows[2].rect.toAlignedRect()
    assert image.copy(refund) != twin.copy(refund)
    first = layout.rows[0].rect.toAlignedRect()
    assert image.copy(first) == twin.copy(first)


def test_the_cli_paints_offscreen_without_an_application_or_a_display(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from app.cli.classify_output import draw_matrix\n"
        "from app.core.classify import score\n"
        "s = score(['négatif', 'Überweisung', '退款'], [0, 1, 2, 2], [0, 1, 2, 0])\n"
        "draw_matrix(Path(sys.argv[1]) / 'cm.png', s, 'eval')\n"
        "draw_matrix(Path(sys.argv[1]) / 'cm.svg', s, 'eval')\n"
        "from PySide6.QtWidgets import QApplication\n"
        "print(type(QApplication.instance()).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY")}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "QGuiApplication"  # no widgets, no window
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "cm.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and "退款" in svg and "Überweisung" in svg and "Predicted label" in svg


def test_77_labels_fit_without_overlap_at_a_sane_size(qapp: QApplication) -> None:
    scores = many_scores()
    layout = layout_matrix(scores, "prompt on smollm2 (Banking77)")
    assert len(layout.rows) == len(layout.columns) == 77
    boxes = layout.text_boxes()
    for a, b in itertools.combinations(boxes, 2):
        assert not a.rect.intersects(b.rect), f"{a.text!r} overlaps {b.text!r}"
    for box in boxes:
        assert not box.rect.intersects(layout.grid), f"{box.text!r} is drawn over the cells"
        assert QRectF(0, 0, layout.width, layout.height).contains(box.rect), box.text
    for i, box in enumerate(layout.rows):  # each name beside its own row and column
        row, column = layout.cell_rect(i, 0), layout.cell_rect(0, i)
        assert row.top() <= box.rect.center().y() <= row.bottom()
        assert column.left() <= layout.columns[i].rect.center().x() <= column.right()
    assert 14 <= layout.cell <= 32  # room for a count, and the picture stays reasonable
    assert layout.width <= 3000 and layout.height <= 3000
    long_names = [b for b in layout.rows if b.text != b.full]
    assert all("…" in b.text for b in long_names)
    assert len({b.text for b in layout.rows}) == 77  # elided names still tell labels apart
    image = render_matrix(scores)
    assert (image.width(), image.height()) == (layout.width, layout.height)


def test_the_view_zooms_scrolls_and_names_what_is_hovered(qtbot: QtBot) -> None:
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(640, 420)
    view.show()
    qtbot.waitExposed(view)
    assert not view.zoom_in_button.isEnabled()  # nothing to zoom yet
    scores = many_scores()
    view.set_scores(scores, "Banking77")
    layout = view.canvas.layout_
    assert layout is not None
    fitted = view.zoom()
    viewport = view.scroll_area.viewport().size()
    assert fitted < 1.0  # a big matrix starts whole in the view
    assert view.canvas.width() <= viewport.width() and view.canvas.height() <= viewport.height()

    view.actual_button.click()
    assert view.zoom() == 1.0 and view.canvas.width() == layout.width
    bar = view.scroll_area.verticalScrollBar()
    assert bar.maximum() > 0
    with qtbot.waitSignal(view.zoom_changed) as zoomed:
        view.zoom_in_button.click()
    assert zoomed.args == [pytest.approx(1.25)] and view.canvas.width() > layout.width
    view.zoom_out_button.click()
    assert view.zoom() == pytest.approx(1.0)

    # Ctrl+wheel zooms around the pointer; a plain wheel scrolls.
    def wheel(modifiers: Qt.KeyboardModifier, delta: int, target: QWidget) -> bool:
        point = QPointF(100, 200)
        event = QWheelEvent(
            point,
            QPointF(view.canvas.mapToGlobal(point.toPoint())),
            QPoint(0, 0),
            QPoint(0, delta),
            Qt.MouseButton.NoButton,
            modifiers,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(target, event)
        return event.isAccepted()

    bar.setValue(0)
    assert wheel(Qt.KeyboardModifier.ControlModifier, 120, view.canvas)
    assert view.zoom() == pytest.approx(1.25)
    assert bar.value() == 50  # the point under the pointer stayed under it: 200 * 1.25 - 200
    # A plain wheel is left to the scroll area (Qt hands it to the viewport), which scrolls.
    assert not wheel(Qt.KeyboardModifier.NoModifier, -120, view.canvas)
    assert view.zoom() == pytest.approx(1.25)
    wheel(Qt.KeyboardModifier.NoModifier, -120, view.scroll_area.viewport())
    assert bar.value() > 50
    view.fit_button.click()
    assert view.zoom() == pytest.approx(fitted)
    assert view.zoom_label.text() == f"{fitted:.0%}"

    cell = layout.cell_rect(3, 5).center()
    tip = layout.tooltip_at(cell)
    assert tip is not None
    assert f"Gold: {scores.labels[3]}" in tip and f"Predicted: {scores.labels[5]}" in tip
    elided = next(b for b in layout.columns if b.text != b.full)
    assert layout.tooltip_at(elided.rect.center()) == elided.full

    view.clear()
    assert view.canvas.size().isEmpty() and not view.fit_button.isEnabled()


def test_cell_text_stays_readable_on_light_and_dark_palettes(qtbot: QtBot) -> None:
    palettes = {"light": QApplication.style().standardPalette(), "dark": dark_palette()}
    for name, palette in palettes.items():
        for step in range(21):
            fill = cell_fill(step / 20, palette)
            ratio = contrast(cell_text(fill, palette), fill)
            assert ratio >= MIN_CONTRAST, f"{name}, share {step / 20}: contrast {ratio:.2f}"
    dark = dark_palette()
    assert cell_fill(0.0, dark) == dark.color(QPalette.ColorRole.Base)  # no white sheet
    # The window's matrix repaints from its palette: dark background, light text.
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.setPalette(dark)
    view.resize(500, 480)
    view.show()
    view.set_scores(world_scores())
    layout = view.canvas.layout_
    assert layout is not None
    view.actual_button.click()
    image = view.canvas.grab().toImage()
    assert colors.is_dark(dark)
    corner = image.pixelColor(2, 2)
    assert corner.lightness() < 60
    title = layout.title.rect.toAlignedRect()
    brightest = max(
        image.pixelColor(x, y).lightness()
        for x in range(title.left(), title.right())
        for y in range(title.top(), title.bottom())
    )
    assert brightest > 180  # the title is light text, not black on near-black


def test_screenshot_of_the_matrix(qtbot: QtBot, tmp_path: Path) -> None:
    out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    assert render_matrix(world_scores(), "prompt on smollm2 (Ünïcode labels)").save(
        str(out / "confusion-matrix.png")
    )
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.setPalette(dark_palette())
    view.resize(760, 560)
    view.show()
    qtbot.waitExposed(view)
    view.set_scores(many_scores(), "prompt on smollm2 (Banking77)")
    view.set_zoom(0.8)
    view.scroll_area.horizontalScrollBar().setValue(0)
    view.scroll_area.verticalScrollBar().setValue(0)
    assert view.grab().save(str(out / "confusion-matrix-dark.png"))


def test_names_stay_in_view_when_scrolled_and_the_picture_is_saved(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(640, 420)
    view.show()
    qtbot.waitExposed(view)
    view.set_scores(many_scores(), "prompt on smollm2 (Banking77)")
    view.actual_button.click()
    layout = view.canvas.layout_
    assert layout is not None
    frozen = (view.frozen_rows, view.frozen_columns, view.frozen_corner)
    across, down = view.scroll_area.horizontalScrollBar(), view.scroll_area.verticalScrollBar()
    across.setValue(0)
    down.setValue(0)
    assert not any(w.isVisible() for w in frozen)  # nothing scrolled away at the top left

    # Scrolled to the far corner, the names of the rows and columns in view are still shown.
    across.setValue(across.maximum())
    down.setValue(down.maximum())
    QApplication.processEvents()
    assert all(w.isVisible() for w in frozen)
    viewport = view.scroll_area.viewport().rect()
    rows, columns = view.frozen_rows, view.frozen_columns
    assert rows.x() == 0 and rows.width() == math.ceil(layout.grid.left())
    assert columns.y() == 0 and columns.height() > 0

    def named_in(widget: QWidget, boxes: tuple[TextBox, ...], index: int) -> None:
        """The box of name ``index`` is inside ``widget``, drawn, and hovering it names it."""
        box = boxes[index].rect.translated(widget.origin())
        assert widget.rect().contains(box.center().toPoint()), boxes[index].full
        image = widget.grab().toImage()
        base = widget.palette().color(QPalette.ColorRole.Base)
        assert ink(image, box, base) > 10, f"{boxes[index].full} is not drawn"
        assert layout.tooltip_at(box.center() - widget.origin()) == boxes[index].full

    # The row beside the cells at the middle of the view, and the column above them.
    middle = viewport.center()
    cell = layout.cell_at(QPointF(view.canvas.mapFrom(view.scroll_area.viewport(), middle)))
    assert cell is not None
    named_in(rows, layout.rows, cell[0])
    named_in(columns, layout.columns, cell[1])
    last = len(layout.rows) - 1  # scrolled to the end: the last names are in view
    named_in(rows, layout.rows, last)
    named_in(columns, layout.columns, last)
    out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    assert view.grab().save(str(out / "confusion-matrix-scrolled.png"))

    across.setValue(0)
    down.setValue(0)
    assert not any(w.isVisible() for w in frozen)

    # Save picture…: the file dialog's choice, as PNG, or SVG by its ending.
    for name in ("matrix", "matrix.svg"):
        chosen = tmp_path / name
        monkeypatch.setattr(
            QFileDialog,
            "getSaveFileName",
            staticmethod(lambda *_a, chosen=chosen: (str(chosen), "PNG image (*.png)")),
        )
        messages: list[str] = []
        view.status_changed.connect(messages.append)
        view.save_button.click()
        view.status_changed.disconnect(messages.append)
        saved = chosen if chosen.suffix else chosen.with_suffix(".png")
        assert messages == [f"Saved the confusion matrix to {saved}."]
        if saved.suffix == ".png":
            picture = QImage(str(saved))
            assert (picture.width(), picture.height()) == (layout.width, layout.height)
        else:
            assert saved.read_bytes().lstrip().startswith(b"<?xml")
            assert b"<svg" in saved.read_bytes()
