"""Schemathesis against the live management API: every operation of the OpenAPI document, with
generated input, never answers a server error, and its answers match the document."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import select

from core.config import replace
from models.domain import Domain
from models.user import User
from tests.conftest import Installation
from tests.support.api_v2 import live_api

EXAMPLES = 40


def known_values(installation: Installation) -> dict[str, str]:
    """Path values that name real objects, so that generated requests reach past the 404s."""
    with installation.runtime.db.transaction() as session:
        domain = session.scalars(select(Domain.uuid)).first()
        user = session.scalars(select(User.uuid).where(User.admin.is_(True))).first()
    return {"org": "acme", "server": "main", "uuid": str(domain), "user": str(user)}


# Every operation of the API, several examples each: minutes on a busy machine.
@pytest.mark.timeout(900)
def test_generated_requests_never_fail_on_our_side(installation: Installation) -> None:
    config = replace(installation.runtime.config, api={"rate_limit_per_minute": 0})
    runtime = dataclasses.replace(installation.runtime, config=config)
    with live_api(runtime) as api:
        base_url = f"http://127.0.0.1:{api.port}"
        document = requests.get(f"{base_url}/api/v2/openapi.json", timeout=10).json()
        schema = schemathesis.openapi.from_dict(document)
        known = known_values(installation)
        headers = {"Authorization": f"Bearer {api.admin.token}"}
        http = requests.Session()
        failures: list[str] = []
        statuses: Counter[int] = Counter()

        for result in schema.get_all_operations():
            operation = result.ok()

            @given(case=operation.as_strategy(), real=st.booleans())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any, real: bool) -> None:
                if real and case.method != "DELETE" and case.path_parameters:
                    case.path_parameters = {k: known.get(k, v) for k, v in case.path_parameters.items()}
                response = case.call(base_url=base_url, session=http, headers=headers)
                statuses[response.status_code] += 1
                assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
                # Business rules (a domain name's syntax, a cursor we gave out) are checked beyond
                # the schema and answered 400/422, so schema-valid input may be refused.
                case.validate_response(response, headers=headers, excluded_checks=[positive_data_acceptance])

            try:
                run()
            except (Exception, FailureGroup) as exc:
                failures.append(f"{operation.label}: {exc}")
        assert failures == [], "\n\n".join(failures)
        # The generated requests reached real objects too, not only 404s and refused input.
        assert statuses[200] + statuses[201] + statuses[204] > 50, statuses
        print(dict(statuses))
