"""Left side of the window: the slide's images (state and counts) and the session's patient/slide fields."""

from __future__ import annotations

from PySide6.QtCore import QDate, QItemSelectionModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from malaria_desktop.core.review.session import SessionMetadata
from malaria_desktop.qt.models import SlideDocument, SlideListModel
from malaria_desktop.qt.warning_groups import warning_icon


class _MarkWarned(QStyledItemDelegate):
    """The file name of an image with a warning (or that failed) carries the warning sign (issue 20)."""

    def __init__(self, document: SlideDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = document

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:  # noqa: N802
        super().initStyleOption(option, index)
        result = self._doc.result(str(index.data(Qt.ItemDataRole.UserRole)))
        if result is not None and (result.warnings or result.status != "ok"):
            option.icon = warning_icon()
            option.features |= QStyleOptionViewItem.ViewItemFeature.HasDecoration


class SlideList(QTableView):
    """Table of images; selecting a row asks the window to show that image."""

    imageSelected = Signal(str)  # image key

    def __init__(self, document: SlideDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list_model = SlideListModel(document, self)
        self.setModel(self.list_model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTabKeyNavigation(False)  # Tab leaves the list (to the image) instead of walking its cells
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # long file names shrink, never the State
        self.verticalHeader().setVisible(False)
        self.setItemDelegateForColumn(0, _MarkWarned(document, self))
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)
        self.selectionModel().currentRowChanged.connect(self._current_changed)
        self._widths: tuple = ()
        self._doc = document
        document.entriesReset.connect(self._fit_columns)
        document.countsChanged.connect(self._fit_columns)  # results and edits; not every progress step
        self._fit_columns()

    def _fit_columns(self, *_args) -> None:
        """State and the counts ("164 \u2192 163") get the width of their longest text (never "\u2026").

        Computed from the states and counts present, not with ResizeToContents: that re-measures every row
        of the table after every result and key press (1,000 images: quadratic).
        """
        from malaria_desktop.qt.models import HEADERS_MIN, STAGE_TEXT, STATE_TEXT, pair_text

        states = {e.state for e in self._doc.entries}
        texts = [*(STATE_TEXT[s] for s in ("queued", "analysing", "done")), "State"]
        if states & {"queued", "analysing"}:  # the stage names only while a run shows them: then the
            texts += STAGE_TEXT.values()      # file names get that width back (issue 20: "PA1\u2026JPG")
        texts += [f"{STATE_TEXT[s]} (see below)" for s in states & {"error", "missing"}]
        per_image = self._doc.counts().per_image.values() if self._doc.results else ()
        cells = {pair_text(c.auto_cells, c.reviewed_cells, c.edits) for c in per_image}  # distinct texts only
        parasitized = {pair_text(c.auto_parasitized, c.reviewed_parasitized, c.edits) for c in per_image}
        # every image done: the State column says nothing; its width goes to the file names (issue 20)
        self.setColumnHidden(1, bool(states) and states <= {"done"})
        fm = self.fontMetrics()
        widths = tuple(max(fm.horizontalAdvance(t) for t in group) + 14
                       for group in (texts, [*cells, HEADERS_MIN[2]], [*parasitized, HEADERS_MIN[3]]))
        if widths == self._widths:
            return
        self._widths = widths
        header = self.horizontalHeader()
        for column, width in zip((1, 2, 3), widths, strict=False):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            self.setColumnWidth(column, width)

    def _current_changed(self, current, _previous) -> None:
        key = self.list_model.key_at(current.row())
        if key is not None:
            self.imageSelected.emit(key)

    def select_key(self, key: str) -> None:
        for row in range(self.list_model.rowCount()):
            if self.list_model.key_at(row) == key:
                index = self.list_model.index(row, 0)
                if self.currentIndex().row() != row:
                    self.selectionModel().setCurrentIndex(
                        index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                        | QItemSelectionModel.SelectionFlag.Rows)
                return


NO_DATE = QDate(1900, 1, 1)  # the QDateEdit's minimum, shown as NOT_SET (or the stored unusual text)
NOT_SET = "not set"


class MetadataPanel(QGroupBox):
    """Patient / slide fields edited in place; changes reach the document after a short pause in typing."""

    def __init__(self, document: SlideDocument, parent: QWidget | None = None) -> None:
        super().__init__("Patient and slide", parent)
        self._doc = document
        self._loading = False
        self.patient_id = QLineEdit()
        self.patient_id.setPlaceholderText("patient or sample ID")
        self.slide_id = QLineEdit()
        self.slide_id.setPlaceholderText("slide ID")
        self.operator = QLineEdit()
        self.operator.setPlaceholderText("your name or initials")
        # No date is a valid answer: an empty (or unusual) date stays exactly what it was, never today's
        # (issue 13 item 12). The minimum date stands for "not set" and shows the stored text instead.
        self._raw_date = ""
        self.date = QDateEdit()
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.date.setMinimumDate(NO_DATE)
        self.date.setSpecialValueText(NOT_SET)
        self.date.setDate(NO_DATE)
        self.date.calendarWidget().setCurrentPage(QDate.currentDate().year(), QDate.currentDate().month())
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("notes")
        self.notes.setFixedHeight(54)
        for widget in (self.patient_id, self.slide_id, self.operator, self.date, self.notes):
            widget.setAcceptDrops(False)  # a dropped file goes to the window (analysis), not into a text field
        self.notes.viewport().setAcceptDrops(False)
        form = QFormLayout(self)
        form.addRow("Patient / sample ID", self.patient_id)
        form.addRow("Slide ID", self.slide_id)
        form.addRow("Operator", self.operator)
        form.addRow("Slide date", self.date)
        self.date.setToolTip("The day the slide was made or the sample taken (printed on the report)")
        form.addRow("Notes", self.notes)
        self._commit_timer = QTimer(self)
        self._commit_timer.setSingleShot(True)
        self._commit_timer.setInterval(400)
        self._commit_timer.timeout.connect(self.commit)
        for edit in (self.patient_id, self.slide_id, self.operator):
            edit.textEdited.connect(self._changed)
            edit.editingFinished.connect(self.commit)
        self.date.dateChanged.connect(self._changed)
        self.notes.textChanged.connect(self._changed)
        document.metadataChanged.connect(self.refresh)
        self.refresh()

    def _changed(self, *_args) -> None:
        if not self._loading:
            self._commit_timer.start()

    def current(self) -> SessionMetadata:
        return SessionMetadata(
            patient_id=self.patient_id.text().strip(), slide_id=self.slide_id.text().strip(),
            operator=self.operator.text().strip(), date=self._date_text(), notes=self.notes.toPlainText())

    def _date_text(self) -> str:
        """The picked date, or, when none was picked, the stored text unchanged ("" for a new slide)."""
        picked = self.date.date()
        return self._raw_date if picked == NO_DATE else picked.toString("yyyy-MM-dd")

    def commit(self) -> None:
        """Push the fields into the document now (also called before saving/exporting)."""
        self._commit_timer.stop()
        if not self._loading:
            self._doc.set_metadata(self.current())

    def refresh(self) -> None:
        meta = self._doc.metadata
        self._loading = True
        try:
            for edit, text in ((self.patient_id, meta.patient_id), (self.slide_id, meta.slide_id),
                               (self.operator, meta.operator)):
                if edit.text() != text:
                    edit.setText(text)
            date = QDate.fromString(meta.date, "yyyy-MM-dd") if meta.date else QDate()
            valid = date.isValid() and date > NO_DATE
            self._raw_date = "" if valid else meta.date
            self.date.setSpecialValueText(meta.date if meta.date and not valid else NOT_SET)
            self.date.setDate(date if valid else NO_DATE)
            if self.notes.toPlainText() != meta.notes:
                self.notes.setPlainText(meta.notes)
        finally:
            self._loading = False


class SlidePanel(QWidget):
    """Image list above the patient/slide fields."""

    def __init__(self, document: SlideDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images_box = QGroupBox("Field images of this slide")
        self.list = SlideList(document)
        box_layout = QVBoxLayout(self.images_box)
        box_layout.setContentsMargins(4, 4, 4, 4)
        box_layout.addWidget(self.list)
        self.problems = QLabel()  # the reasons of failed / missing images, readable without hovering
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.PlainText)
        self.problems.setStyleSheet("color: #b71c1c;")
        self.problems.setVisible(False)
        box_layout.addWidget(self.problems)
        self._doc = document
        document.entriesReset.connect(self._update_problems)
        document.entryChanged.connect(self._update_problems)
        self.metadata = MetadataPanel(document)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.images_box, 1)
        layout.addWidget(self.metadata, 0)

    def _update_problems(self, *_args) -> None:
        bad = [e for e in self._doc.entries if e.state in ("error", "missing")]
        lines = [f"\u2022 {e.path.name}: {e.error}" for e in bad[:4]]
        if len(bad) > 4:
            lines.append(f"\u2026 and {len(bad) - 4} more (hover the list)")
        self.problems.setText("\n".join(lines))
        self.problems.setVisible(bool(bad))
