"""Dispatch (SPEC §5): ranking, surge assignment, lifecycle and escalation."""
