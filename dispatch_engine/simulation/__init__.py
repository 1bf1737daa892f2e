"""Planning (SPEC §7): replayed days and coverage simulation over the production dispatcher."""
