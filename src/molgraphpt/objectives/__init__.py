"""molgraphpt.objectives."""
