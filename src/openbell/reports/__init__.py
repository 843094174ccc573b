"""Reports: queries that return rows. Renderers (CLI, web, charts) draw the same rows."""
