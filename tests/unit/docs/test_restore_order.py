"""The DR plan's restore order: what others depend on first, the first by name of those ready each time,
then the services in a dependency cycle; the same order as choosing by scanning every service each time."""

from __future__ import annotations

import random

from seawall.model import load_environments
from seawall.model.schema import Port
from seawall.opsdocs.facts import restore_order
from tests.conftest import SHIPPED


def order_by_scanning(needs: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """The rule as the plan states it, by scanning every service for each place (quadratic)."""
    order: list[str] = []
    while ready := sorted(name for name, found in needs.items() if name not in order and set(found) <= set(order)):
        order.append(ready[0])
    return order, sorted(set(needs) - set(order))


def test_the_restore_order_is_the_rule_it_states_on_random_firewalls() -> None:
    env = load_environments(SHIPPED, ["mainnet"])["mainnet"]
    template = env.services["api"]
    pick = random.Random(36)
    for _ in range(200):
        names = pick.sample([f"s{index:02d}" for index in range(40)], pick.randint(0, 12))
        chance = pick.choice((0.05, 0.2, 0.5))
        services = {
            name: template.model_copy(
                update={"ports": [Port(port=8000, source=other) for other in names if pick.random() < chance]}
            )
            for name in names
        }
        fleet = env.model_copy(update={"services": services})
        # A service depends on every service that lets it in.
        lets_in = {name: {port.source for port in service.ports} - {name} for name, service in services.items()}
        needs = {name: [other for other, allowed in lets_in.items() if name in allowed] for name in services}
        wanted = order_by_scanning(needs)
        assert restore_order(fleet) == wanted
