"""Site profile: to be filled (issue 2)."""
