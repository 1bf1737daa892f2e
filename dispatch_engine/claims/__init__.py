"""Claims (SPEC §6): working-time calendar, loss tiers and deadlines, survey-waiver triage."""
