"""The configuration: its typed tree (`model`), reading and validating the file (`loader`),
editing it in place (`editor`)."""
