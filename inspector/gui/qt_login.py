"""Login, electronic signature and idle logout, for the station and the review windows (the checks are the
access service's; these only ask)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from inspector.access.service import AccessError, AccessService, UserSession

ERROR_STYLE = "color: #ff6b6b; font-weight: 600;"


def _password_field() -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setMinimumWidth(280)
    return edit


class QtLoginDialog(QDialog):
    """User name and password; on success ``session`` is set (the login is audited either way)."""

    def __init__(self, access: AccessService, where: str, parent: QWidget | None = None,
                 title: str = "Log in") -> None:
        super().__init__(parent)
        self.access, self.where = access, where
        self.session: UserSession | None = None
        self.setWindowTitle(title)
        self.user = QLineEdit()
        self.user.setMinimumWidth(280)
        self.password = _password_field()
        self.error = QLabel()
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Log in")
        buttons.accepted.connect(self.try_login)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("User", self.user)
        form.addRow("Password", self.password)
        box = QVBoxLayout(self)
        box.addWidget(QLabel(f"<b>{title}</b> – {where}"))
        box.addLayout(form)
        box.addWidget(self.error)
        box.addWidget(buttons)

    def try_login(self) -> bool:
        try:
            self.session = self.access.authenticate(self.user.text().strip(), self.password.text(), self.where)
        except AccessError as exc:
            self.error.setText(str(exc))
            self.password.clear()
            return False
        self.accept()
        return True


class QtSignatureDialog(QDialog):
    """An electronic signature: what is signed, by whom, the password again and the meaning (§11.50, §11.200).

    The caller runs the signed change with :attr:`password` and :attr:`meaning`, and calls :meth:`refuse` to show
    why it did not go through (the dialog stays open for another try)."""

    def __init__(self, what: str, signer: str, meaning: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign the change")
        self.password_edit = _password_field()
        self.meaning_edit = QLineEdit(meaning)
        self.meaning_edit.setMinimumWidth(360)
        self.error = QLabel()
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign")
        self.buttons.rejected.connect(self.reject)
        summary = QLabel(f"<b>You sign:</b> {what}<br><b>As:</b> {signer}<br>Your name, the time and the meaning "
                         "below are recorded with the change in the audit trail.")
        summary.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Password", self.password_edit)
        form.addRow("Meaning", self.meaning_edit)
        box = QVBoxLayout(self)
        box.addWidget(summary)
        box.addLayout(form)
        box.addWidget(self.error)
        box.addWidget(self.buttons)

    @property
    def password(self) -> str:
        return self.password_edit.text()

    @property
    def meaning(self) -> str:
        return self.meaning_edit.text()

    def refuse(self, message: str) -> None:
        self.error.setText(message)
        self.password_edit.clear()


class IdleLogout(QObject):
    """Calls ``logout`` after ``seconds`` without a key press or mouse action anywhere in the application."""

    ACTIVITY = (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.Wheel)

    def __init__(self, seconds: float, logout: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(int(seconds * 1000))
        self.timer.timeout.connect(logout)
        QApplication.instance().installEventFilter(self)

    def arm(self) -> None:
        self.timer.start()

    def disarm(self) -> None:
        self.timer.stop()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() in self.ACTIVITY and self.timer.isActive():
            self.timer.start()
        return False


def session_text(session: UserSession | None) -> str:
    return "Not logged in" if session is None else f"{session.name} ({session.role})"

