"""molgraphpt.cli."""
