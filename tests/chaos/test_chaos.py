"""The fault drill's short version, in `make test`: every scenario with a few hundred documents
and seconds-long faults, on a private cluster. `make chaos` runs the full one (FULL scale).

Each scenario must end whole: nothing acknowledged lost, nothing stored or analyzed twice, no
document failed or dead-lettered, nothing paid twice except what a kill -9 caught in flight at
the provider (a documented limit: its answer died with the process), and a recovery.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.cluster import Cluster
from tests.chaos.scenarios import SCENARIOS, SHORT, Scenario, run, table

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    private = Cluster.create(tmp_path_factory.mktemp("chaos"))
    try:
        yield private.start()
    finally:
        private.stop()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.tag for s in SCENARIOS])
async def test_the_scenario_ends_whole(cluster: Cluster, scenario: Scenario) -> None:
    row = await run(cluster, SHORT, scenario)
    assert row.acknowledged > 0, table([row])
    assert row.clean, f"logs in {cluster.workdir}\n{table([row])}"
