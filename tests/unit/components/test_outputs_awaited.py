"""A component's Outputs checked the way Pulumi's guidance says: mocks set first, every Output awaited."""

from __future__ import annotations

import pulumi
import pytest
from pulumi.runtime import settings

from seawall.render import FakeCloud, _recording_monitor_class

pytestmark = pytest.mark.render  # renders under the mock engine


def test_the_network_component_outputs_resolve_under_the_mock_engine() -> None:
    from pulumi.runtime import mocks

    settings.ROOT.set(None)
    monitor = _recording_monitor_class(mocks)(FakeCloud())
    pulumi.runtime.set_mocks(monitor.mocks, project="seawall", stack="devnet", preview=False, monitor=monitor)
    from seawall.components.network import Network, NetworkArgs

    seen: list[tuple[str, str]] = []

    @pulumi.runtime.test
    def check() -> pulumi.Output:
        network = Network("network", NetworkArgs("devnet", "ams3", "10.10.0.0/16", "devnet.example.net"))

        def record(values: list[str]) -> None:
            seen.append((values[0], values[1]))

        return pulumi.Output.all(network.vpc.ip_range, network.domain.name).apply(record)

    check()
    settings.ROOT.set(None)
    assert seen == [("10.10.0.0/16", "devnet.example.net")]
    assert {r.name for r in monitor.records} == {"network", "network-vpc", "network-domain"}
