"""The only package that imports PySide6: the operator station window, the QA review window and their workers."""
