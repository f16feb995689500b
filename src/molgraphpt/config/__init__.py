"""molgraphpt.config."""
