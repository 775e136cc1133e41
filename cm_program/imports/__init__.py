"""Importers of contingency-management data (issue 11): ``cm_patients`` (the CM patients of the old
shared Supabase table, the CM document's Phase 2), ``intakeq`` (IntakeQ clients) and ``matching`` (their
matching to canonical patients). Entry points are registered in ``common.imports.runner.IMPORTERS``."""
