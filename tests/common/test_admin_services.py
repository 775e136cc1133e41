"""Every ModelAdmin of a model that has services saves through them.

A plain ModelForm save skips the services' rules (names unique ignoring case, dates of birth in the
past, the audit actor...): issue 9 found four admins doing so. The services of a model are found by
name in its app's ``services`` module (``<model>_create`` / ``_update`` / ``_register``, the model
named by its model name, verbose name or table) or listed in that module's ``WRITE_SERVICES`` when
named otherwise. Its admin must be one of the two service-saving admins (``ServiceAdminMixin``, or the
CM desk's ``ServiceAdmin``, which turn refusals into form errors) and its code must call each of them.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from types import CodeType

from django.contrib import admin

from cm_program.admin import ServiceAdmin as CMServiceAdmin
from cm_program.models import CMProgram, IntakeQPatient
from common.admin import CrmModelAdmin, ServiceAdminMixin
from patients.models import Hospital, Specialization

SERVICE_VERBS = ("create", "update", "register")


def _snake(text: str) -> str:
    return re.sub(r"\W+", "_", str(text).strip().lower()).strip("_")


def write_services(model) -> tuple[Callable, ...]:
    """The services that create and change ``model`` (empty when it has none)."""
    try:
        module = importlib.import_module(f"{model._meta.app_config.name}.services")
    except ModuleNotFoundError:
        return ()
    listed = getattr(module, "WRITE_SERVICES", {})
    if model in listed:
        return tuple(listed[model])
    opts = model._meta
    keys = sorted({opts.model_name, _snake(opts.verbose_name), _snake(opts.db_table)})
    found = [getattr(module, f"{key}_{verb}", None) for key in keys for verb in SERVICE_VERBS]
    return tuple(dict.fromkeys(f for f in found if callable(f)))


def _names(code: CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):  # lambdas, comprehensions, nested functions
            names |= _names(const)
    return names


def names_called_by(admin_class: type) -> set[str]:
    """Every global or attribute name the project's code of ``admin_class`` (and its bases) uses."""
    names: set[str] = set()
    for klass in admin_class.__mro__:
        if klass.__module__.split(".")[0] in ("django", "builtins"):
            continue
        for value in vars(klass).values():
            code = getattr(getattr(value, "__func__", value), "__code__", None)
            if code is not None:
                names |= _names(code)
    return names


def admins_saving_without_services(registry: dict) -> list[str]:
    problems = []
    for model, model_admin in registry.items():
        services = write_services(model)
        if not services:
            continue
        name = f"{type(model_admin).__name__} ({model._meta.label})"
        if not isinstance(model_admin, (ServiceAdminMixin, CMServiceAdmin)):
            problems.append(f"{name} saves through its ModelForm; use ServiceAdminMixin / ServiceAdmin")
            continue
        missing = [f.__name__ for f in services if f.__name__ not in names_called_by(type(model_admin))]
        if missing:
            problems.append(f"{name} does not call {', '.join(missing)}")
    return problems


def test_every_admin_of_a_model_with_services_saves_through_them():
    assert admins_saving_without_services(admin.site._registry) == []


def test_the_check_covers_the_lookups_and_the_cm_records():
    covered = {model for model in admin.site._registry if write_services(model)}
    assert {Hospital, Specialization, CMProgram, IntakeQPatient} <= covered
    assert [f.__name__ for f in write_services(CMProgram)] == ["cm_program_create", "cm_program_update"]
    assert [f.__name__ for f in write_services(IntakeQPatient)] == ["intakeq_patient_create", "intakeq_patient_update"]


def test_the_check_refuses_an_admin_that_saves_through_its_model_form():
    class PlainHospitalAdmin(CrmModelAdmin):
        pass

    class ForgetfulHospitalAdmin(ServiceAdminMixin, CrmModelAdmin):
        def save_model(self, request, obj, form, change):
            obj.save()

    assert admins_saving_without_services({Hospital: PlainHospitalAdmin(Hospital, admin.site)}) == [
        "PlainHospitalAdmin (patients.Hospital) saves through its ModelForm; use ServiceAdminMixin / ServiceAdmin"
    ]
    assert admins_saving_without_services({Hospital: ForgetfulHospitalAdmin(Hospital, admin.site)}) == [
        "ForgetfulHospitalAdmin (patients.Hospital) does not call hospital_create, hospital_update"
    ]
