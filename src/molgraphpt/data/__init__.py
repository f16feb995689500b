"""molgraphpt.data."""
