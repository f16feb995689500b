"""molgraphpt.evaluation."""
