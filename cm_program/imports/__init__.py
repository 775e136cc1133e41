"""Importers of contingency-management data (issue 11): ``cm_patients`` (the CM patients of the old
shared Supabase table, the CM document's Phase 2) and ``intakeq`` (IntakeQ clients and matching).
Each exposes ``run_import`` as registered in ``common.imports.runner.IMPORTERS``."""
