"""Package data: the embedded demo dataset."""
