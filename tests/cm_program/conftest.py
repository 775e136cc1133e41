"""Fixtures of the CM tests: a program with the default schedule, CPSS staff with logins."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from common import roles
from tests.factories.cm_program import CMProgramFactory, CMProviderFactory
from tests.factories.people import UserFactory


@pytest.fixture
def program(db):
    return CMProgramFactory(name="Moonlit CM")


@pytest.fixture
def make_cpss(db):
    def make(username: str | None = None, **kwargs):
        user = UserFactory(username=username) if username else None
        if user is not None:
            user.groups.add(Group.objects.get(name=roles.CPSS))
        return CMProviderFactory(user=user, **kwargs)

    return make


@pytest.fixture
def cpss(make_cpss):
    return make_cpss("cpss_ann", first_name="Ann", last_name="Peer")


def run_concurrently(*calls: Callable[[], object]) -> list[tuple[str, object]]:
    """Run each call in its own thread and database connection, released together by a barrier.

    Returns ("ok", value) or ("error", exception) per call, in the order given.
    """
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, object] | None] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = ("ok", call())
        except Exception as exc:  # the test inspects it
            results[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results  # type: ignore[return-value]
