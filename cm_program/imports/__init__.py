"""Imports into the CM schema: IntakeQ clients (``intakeq``) and their matching to canonical patients
(``matching``). Entry points are registered in ``common.imports.runner.IMPORTERS``."""
