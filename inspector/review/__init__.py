"""QA review of the defect database: paged queries, reviews, chart data, exports. Qt-free."""
