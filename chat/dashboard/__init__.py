"""The staff usage dashboard: figures from the database (queries), its form, and its SVG charts (charts)."""
