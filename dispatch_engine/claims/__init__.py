"""Claims (SPEC §6): working-time calendar, loss tiers and deadlines, survey-waiver triage,
intake, the claim lifecycle, settlement and payments, documents, notices and complaints."""
