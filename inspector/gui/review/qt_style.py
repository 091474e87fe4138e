"""The review window's look: a light, dense, neutral theme."""

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QStyleFactory


def light_palette() -> QPalette:
    """Fusion's light palette with every colour set explicitly, so it overrides a dark application palette."""
    standard = QStyleFactory.create("Fusion").standardPalette()
    palette = QPalette()
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive, QPalette.ColorGroup.Disabled):
        for role in QPalette.ColorRole:
            if role not in (QPalette.ColorRole.NColorRoles,):
                palette.setColor(group, role, standard.color(group, role))
    return palette


STYLE = """
QMainWindow, QWidget#central { background: #f4f6f9; }
QWidget { color: #1c2430; }
QComboBox, QLineEdit, QDateTimeEdit, QAbstractSpinBox, QAbstractItemView, QMenu { background: #ffffff; color: #1c2430; }
QToolBar QToolButton { color: #1c2430; }
QToolBar QToolButton:disabled { color: #a4acb8; }
QCheckBox::indicator { width: 12px; height: 12px; border: 1px solid #8a94a3; border-radius: 2px; background: #ffffff; }
QCheckBox::indicator:checked { background: #2f6fd6; border-color: #2f6fd6; }
QWidget#filterBar { background: #ffffff; border-bottom: 1px solid #d6dbe3; }
QWidget#filterBar QLabel { color: #5b6573; }
QTableView { background: #ffffff; alternate-background-color: #f7f9fb; border: 1px solid #d6dbe3;
             selection-background-color: #cfe0f7; selection-color: #1c2430; gridline-color: #e7ebf0; }
QHeaderView::section { background: #eef1f5; color: #37414f; border: none; border-right: 1px solid #dde2e9;
                       border-bottom: 1px solid #d6dbe3; padding: 4px 6px; font-weight: 600; }
QLabel#detailTitle { font-size: 16px; font-weight: 600; color: #1c2430; padding: 2px 0 4px 0; }
QLabel#reviewBadge { border-radius: 9px; padding: 1px 10px; background: #e6e9ee; color: #37414f; font-weight: 600; }
QLabel#reviewBadge[state="confirmed"] { background: #fbe3e1; color: #9c1f16; }
QLabel#reviewBadge[state="false_positive"] { background: #e3f1e8; color: #17603a; }
QLabel#reviewBadge[state="false_negative"] { background: #fff1d6; color: #8a5300; }
QLabel#history { color: #37414f; background: #ffffff; border: 1px solid #e1e5eb; border-radius: 4px; padding: 4px; }
QLabel#whatIf { padding: 4px; }
QWidget#detail { background: #ffffff; border: 1px solid #d6dbe3; }
QPushButton { background: #ffffff; border: 1px solid #c3cad5; border-radius: 4px; padding: 4px 10px; }
QPushButton:hover { background: #eef3fa; border-color: #8fa9cc; }
QPushButton:disabled { color: #a4acb8; border-color: #dde2e9; }
QPushButton#classButton { text-align: left; }
QTabWidget::pane { border: 1px solid #d6dbe3; background: #ffffff; }
QTabBar::tab { padding: 5px 14px; background: #eef1f5; border: 1px solid #d6dbe3; border-bottom: none;
               margin-right: 2px; }
QTabBar::tab:selected { background: #ffffff; font-weight: 600; }
QStatusBar { background: #eef1f5; color: #37414f; }
QToolBar { background: #ffffff; border-bottom: 1px solid #d6dbe3; spacing: 6px; padding: 2px 6px; }
QToolButton { padding: 3px 8px; border-radius: 4px; }
QToolButton:hover { background: #eef3fa; }
"""
