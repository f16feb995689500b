"""molgraphpt.chem."""
