"""Property-based run of the OpenAPI schema (schemathesis): no input makes the server fail."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import ignored_auth  # noqa: F401  (import check)

from siting_api.app import create_app
from siting_api.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore")

app = create_app(
    Settings(data_dir="/tmp/siting-fuzz-data", max_sites=500), executor=ThreadPoolExecutor(2)
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
