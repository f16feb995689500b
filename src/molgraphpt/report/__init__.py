"""Run reports: ``molgraphpt report RUN_DIR`` writes report.md with metrics tables and PNG plots."""
