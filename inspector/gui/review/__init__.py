"""The QA review window: inspection table, detail view, keyboard review, charts and exports."""
