"""Model strings cannot break the monitoring configuration (#28): every string of the model that reaches
Prometheus's or Alertmanager's files, mutated with what people type and paste (template braces, quotes,
backslashes, line breaks, Unicode), is either refused by validation at its FILE:LINE or rendered into files
that ``promtool check config``, ``promtool check rules --lint-fatal`` and ``amtool check-config`` accept."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seawall.errors import ConfigError
from seawall.model import load_environment
from seawall.monitoring.files import render_monitoring
from tests.conftest import SHIPPED, patch_environment, with_each_field

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(PROMTOOL is None or AMTOOL is None, reason="apt-get install prometheus prometheus-alertmanager"),
]

HOSTILE = [*"{}$\"'\\`|<>#%&*!:;,/.=~ \t\n", "{{", "}}", "{{ .Foo }}", "$labels", "é", "\u2028", "\x1b", "-"]


def _text() -> st.SearchStrategy[str]:
    plain = st.text(alphabet="abz09-", min_size=1, max_size=6)
    return st.lists(st.one_of(plain, st.sampled_from(HOSTILE)), min_size=1, max_size=5).map("".join)


def _renamed(section: str, old: str) -> Any:
    """A patch that gives an item of a section a new (possibly hostile) name, keeping its body."""

    def patch(value: str, env: dict[str, Any]) -> dict[str, Any]:
        return {section: {old: None, value: env[section][old]}}

    return patch


# Each: where in mainnet's model a string goes (a patch given the value) — every string that reaches the
# rendered monitoring files.
FIELDS: dict[str, Any] = {
    "monitoring.runbook_url": lambda v, _: {"monitoring": {"runbook_url": v}},
    "monitoring.runbook_url as a URL": lambda v, _: {"monitoring": {"runbook_url": f"https://docs.example.net/{v}"}},
    "monitoring.webhook_dir": lambda v, _: {"monitoring": {"webhook_dir": f"/etc/alertmanager/{v}"}},
    "environment.domain": lambda v, _: {"environment": {"domain": f"{v}.example.net"}},
    "alerting.smtp.smarthost": lambda v, _: {"alerting": {"smtp": {"smarthost": f"{v}:25"}}},
    "alerting.smtp.sender": lambda v, _: {"alerting": {"smtp": {"sender": f"{v}@example.net"}}},
    "alerting.channels.ops-email.email": lambda v, _: {
        "alerting": {"channels": {"ops-email": {"email": f"{v}@x.net"}}}
    },
    "alerting.channels.ops-slack.slack": lambda v, _: {"alerting": {"channels": {"ops-slack": {"slack": f"#{v}"}}}},
    "availability.timezone": lambda v, _: {"availability": {"timezone": f"Europe/{v}"}},
    "availability.business.start": lambda v, _: {"availability": {"business": {"start": v}}},
    "datacenter_hosts.dc-storage-1.address": lambda v, _: {"datacenter_hosts": {"dc-storage-1": {"address": v}}},
    "a service's name": _renamed("services", "api"),
    "a data-center host's name": _renamed("datacenter_hosts", "dc-build-1"),
}


def _located(problem: str, folder: Path) -> bool:
    return re.match(rf"^{re.escape(str(folder))}/[a-z.-]+\.yaml:\d+: ", problem) is not None


def _tool(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False, timeout=60)


@with_each_field(FIELDS, "a{{")  # an unclosed template action: promtool refused every rule before #28
@with_each_field(FIELDS, 'a"\\n')
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(sorted(FIELDS)), value=_text())
def test_every_model_string_is_refused_at_its_line_or_rendered_into_files_the_tools_accept(
    tmp_path_factory: pytest.TempPathFactory, field: str, value: str
) -> None:
    import yaml

    folder = tmp_path_factory.mktemp("environments") / "environments"
    shutil.copytree(SHIPPED, folder)
    own = yaml.safe_load((folder / "mainnet.yaml").read_text())
    merged = {**yaml.safe_load((folder / "defaults.yaml").read_text()), **own}
    patch_environment(folder, "mainnet", FIELDS[field](value, merged))
    try:
        env = load_environment(folder, "mainnet")
    except ConfigError as exc:
        assert exc.problems, field
        assert all(_located(problem, folder) for problem in exc.problems), exc.problems
        return
    out = folder.parent / "rendered"
    for relative, text in render_monitoring(env).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    config = _tool(PROMTOOL or "promtool", "check", "config", out / "prometheus/prometheus.yml")
    assert config.returncode == 0, f"{field}={value!r}: {config.stdout}{config.stderr}"
    rules = _tool(
        PROMTOOL or "promtool", "check", "rules", "--lint-fatal", *sorted((out / "prometheus/rules").glob("*.yml"))
    )
    assert rules.returncode == 0, f"{field}={value!r}: {rules.stdout}{rules.stderr}"
    manager = _tool(AMTOOL or "amtool", "check-config", out / "alertmanager/alertmanager.yml")
    assert manager.returncode == 0, f"{field}={value!r}: {manager.stdout}{manager.stderr}"


def test_a_runbook_url_with_template_braces_is_refused_at_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "environments"
    shutil.copytree(SHIPPED, folder)
    patch_environment(folder, "mainnet", {"monitoring": {"runbook_url": "https://wiki.example.net/{{ .Oops }}"}})
    with pytest.raises(ConfigError) as raised:
        load_environment(folder, "mainnet")
    [problem] = raised.value.problems
    assert _located(problem, folder)
    assert "monitoring.runbook_url" in problem
    assert "percent-encode" in problem
