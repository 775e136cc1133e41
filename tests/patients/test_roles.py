"""Who may do what with patient-navigation data (Django model permissions of the four roles)."""

from __future__ import annotations

import pytest

from common.erd import erd_models

pytestmark = pytest.mark.django_db

# ``duplicatescan`` is find_duplicates' watermark (bookkeeping of a command, not navigation data: nobody's role).
# Left out: the contact types (reference data), find_duplicates' watermark and person_search (a copy of the
# persons' names kept by triggers for the search, people/search_table.py): nobody works with them.
NAVIGATION_MODELS = [
    m for m in erd_models() if m._meta.model_name not in ("contacttype", "duplicatescan", "personsearch")
]


def _perms(user, model, actions=("view", "add", "change", "delete")) -> dict[str, bool]:
    opts = model._meta
    return {action: user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}") for action in actions}


def test_navigators_work_with_navigation_data_but_delete_nothing(navigator_user):
    for model in NAVIGATION_MODELS:
        perms = _perms(navigator_user, model)
        assert perms["view"] and not perms["delete"], model
    for name in ("patient", "patientlead", "callhistory", "clinicaltrialjourney", "eapjourney", "person"):
        model = next(m for m in NAVIGATION_MODELS if m._meta.model_name == name)
        assert _perms(navigator_user, model) == {"view": True, "add": True, "change": True, "delete": False}
    condition = next(m for m in NAVIGATION_MODELS if m._meta.model_name == "medicalcondition")
    assert _perms(navigator_user, condition)["add"] is False  # the condition list is the supervisors'


def test_supervisors_hold_everything_except_rewriting_history(crm_supervisor_user):
    for model in NAVIGATION_MODELS:
        perms = _perms(crm_supervisor_user, model)
        if model._meta.model_name in ("journeystatuschange",):
            assert perms == {"view": True, "add": False, "change": False, "delete": False}
        elif model._meta.model_name == "personcontacttype":
            assert perms == {"view": True, "add": True, "change": True, "delete": False}
        elif model._meta.model_name == "personduplicatepair":
            # find_duplicates makes the pairs; people decide them ("not the same person", merged).
            assert perms == {"view": True, "add": False, "change": True, "delete": False}
        elif model._meta.model_name == "personmergerequest":
            # Navigators file merge requests; supervisors decide them (change), and merge themselves.
            assert perms == {"view": True, "add": False, "change": True, "delete": False}
        else:
            assert all(perms.values()), model


def test_cm_staff_have_no_patient_navigation_permission(cpss_user, cm_supervisor_user):
    for user in (cpss_user, cm_supervisor_user):
        for model in NAVIGATION_MODELS:
            assert not any(_perms(user, model).values()), (user, model)
