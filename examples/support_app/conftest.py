"""The example's fixtures: only what humanloop-mock's plugin offers, plus the app under test."""

import pytest
from support_app import SupportAssistant


@pytest.fixture
def assistant(humanloop_mock):
    sleeps = []

    async def async_sleep(seconds):
        sleeps.append(seconds)

    app = SupportAssistant(humanloop_mock.sdk_client(), experiment_id="exp_support", sleep=sleeps.append,
                           async_sleep=async_sleep)
    app.sleeps = sleeps  # what the app would have waited, without waiting
    return app
