"""Adaptive experiments through the official client only: feedback moves the draws, reproducibly.

The done-when of issue 10: 200 calls with feedback (positive for one config, negative for the other)
shift an `adaptive` experiment to the good config in at least 80% of the next 200 draws; the experiment
list shows the statistics and the status; a fresh server with the same seed replays the same draws.
"""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from humanloop import Humanloop

from mockserver import MockSettings, create_app
from mockserver.determinism import derive_int
from mockserver.http.server import BackgroundServer
from mockserver.spec.draws import beta_sample, pick_thompson, pick_weighted
from mockserver.spec.models import MockSpec

ASK = [{"role": "user", "content": "Suggest a name for a cat."}]
GOOD, BAD = "config_good", "config_bad"


def spec(sampling: str) -> MockSpec:
    return MockSpec.model_validate({"projects": [{"id": "pr_learn", "name": "learn", "experiments": [{
        "id": "exp_learn", "name": "learn", "sampling": sampling,
        "positive_labels": [{"type": "rating", "value": "good"}],
        "configs": [{"id": GOOD, "model": "gpt-4o"}, {"id": BAD, "model": "gpt-4o-mini"}],
    }]}]})


def run(sampling: str, *, seed: int, with_feedback: int, without: int) -> tuple[list[str], list[dict[str, Any]]]:
    """A fresh server: `with_feedback` calls each rated (good for GOOD, bad for BAD), then `without`
    unrated calls. Returns every drawn config id, in order, and the experiment list's configs."""
    with BackgroundServer(create_app(MockSettings(seed=seed, spec=spec(sampling)))) as server:
        hl = Humanloop(api_key="adaptive-key", host=server.base_url)
        drawn = []
        for number in range(with_feedback + without):
            sample = hl.chat_experiment(experiment_id="exp_learn", messages=ASK).data[0]
            drawn.append(sample.model_config_id_)
            if number < with_feedback:
                verdict = "good" if sample.model_config_id_ == GOOD else "bad"
                rated = hl.feedback(type="rating", value=verdict, data_id=sample.id)
                assert rated.id.startswith("ann_") and rated.data_id == sample.id
        listed = httpx.get(f"{server.base_url}/projects/pr_learn/experiments", headers={"X-API-KEY": "k"}).json()
    (experiment,) = listed
    assert experiment["status"] == ("In progress" if with_feedback else "Initialized")
    return drawn, experiment["configs"]


def test_feedback_shifts_an_adaptive_experiment_and_a_fresh_server_replays_it() -> None:
    drawn, configs = run("adaptive", seed=5, with_feedback=200, without=200)
    learning, after = drawn[:200], drawn[200:]
    assert Counter(after)[GOOD] >= 0.8 * len(after)
    assert Counter(learning)[BAD] >= 1  # it tried the bad config before it learnt
    by_id = {c["id"]: c for c in configs}
    assert by_id[GOOD]["trials_count"] == Counter(learning)[GOOD]  # every rated log, none of the unrated
    assert by_id[BAD]["trials_count"] == Counter(learning)[BAD]
    n_good, n_bad = Counter(learning)[GOOD], Counter(learning)[BAD]
    assert by_id[GOOD]["mean"] == pytest.approx((1 + n_good) / (2 + n_good))  # all successes
    assert by_id[BAD]["mean"] == pytest.approx(1 / (2 + n_bad))  # all failures
    assert by_id[GOOD]["spread"] < by_id[BAD]["spread"]  # more trials, narrower posterior

    replay = run("adaptive", seed=5, with_feedback=200, without=200)
    assert replay == (drawn, configs)


def test_weighted_draws_ignore_feedback_and_follow_the_seeded_stream() -> None:
    rated, _ = run("weighted", seed=5, with_feedback=60, without=0)
    unrated, _ = run("weighted", seed=5, with_feedback=0, without=60)
    assert rated == unrated
    # The nth draw is pick_weighted on the nth number of the experiment's own stream, as before.
    stream = random.Random(derive_int(5, "stream", "draw", "exp_learn"))
    weights = [SimpleNamespace(weight=1.0, id=GOOD), SimpleNamespace(weight=1.0, id=BAD)]
    assert rated == [pick_weighted(stream.random(), weights).id for _ in range(60)]


def test_adaptive_without_feedback_explores_every_config() -> None:
    drawn, configs = run("adaptive", seed=9, with_feedback=0, without=60)
    assert 15 <= Counter(drawn)[GOOD] <= 45
    assert [c["trials_count"] for c in configs] == [0, 0]


# --- the draw step alone -----------------------------------------------------------------------


class Arm:
    def __init__(self, successes: int, failures: int) -> None:
        self.successes, self.failures = successes, failures


def test_beta_sampler_matches_the_beta_moments() -> None:
    rng = random.Random(1)
    values = [beta_sample(rng, 4.0, 2.0) for _ in range(4000)]
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / len(values)
    assert mean == pytest.approx(4 / 6, abs=0.01)
    assert variance == pytest.approx(4 * 2 / (36 * 7), rel=0.1)
    assert all(0 < v < 1 for v in values)


def test_thompson_is_a_pure_function_of_the_stream_and_posteriors() -> None:
    arms = [Arm(2, 8), Arm(8, 2)]
    picks = [pick_thompson(random.Random(seed), arms) for seed in range(300)]
    assert picks == [pick_thompson(random.Random(seed), arms) for seed in range(300)]
    assert 0.85 <= picks.count(arms[1]) / len(picks) < 1.0  # mostly the better arm, not always
