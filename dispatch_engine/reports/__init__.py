"""Documents for the bureau, generated from the service's own records (issue 7)."""
