"""The runner runs without a shell, streams lines, times out, masks; metrics are valid exposition text."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from seawall.backup.metrics import render_metrics
from seawall.errors import ToolMissing
from seawall.logs import register_secret
from seawall.runner import Command, describe, run


def test_a_command_runs_without_a_shell_and_streams_its_lines() -> None:
    seen: list[str] = []
    result = run(Command((sys.executable, "-c", "print('a'); print('b; echo c')")), seen.append)
    assert result.ok
    assert seen == ["a", "b; echo c"]


def test_a_timeout_stops_the_process_and_says_so() -> None:
    result = run(Command((sys.executable, "-c", "import time; time.sleep(30)"), timeout=0.5))
    assert result.timed_out
    assert not result.ok
    assert result.returncode < 0  # ended by the deadline's kill signal, not by finishing its sleep


def test_a_missing_program_is_a_clear_error() -> None:
    with pytest.raises(ToolMissing, match="'no-such-program-x' is not installed"):
        run(Command(("no-such-program-x",)))


def test_a_lower_priority_reaches_the_program_and_every_thread_it_starts() -> None:
    code = (
        "import os, threading; seen = []; "
        "t = threading.Thread(target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS, 0))); t.start(); t.join(); "
        "print(os.getpriority(os.PRIO_PROCESS, 0), seen[0])"
    )
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    result = run(Command((sys.executable, "-c", code), nice=7))
    assert result.stdout.split() == [str(min(19, ours + 7))] * 2
    assert result.argv == (sys.executable, "-c", code)  # the result names the program, not its wrapper
    assert run(Command((sys.executable, "-c", code))).stdout.split() == [str(ours)] * 2


def test_a_timeout_stops_a_program_run_at_a_lower_priority() -> None:
    result = run(Command((sys.executable, "-c", "import time; time.sleep(30)"), timeout=0.5, nice=5))
    assert result.timed_out
    assert result.returncode < 0  # nice became the program, so the kill reached it


def test_a_missing_program_at_a_lower_priority_is_the_same_clear_error() -> None:
    with pytest.raises(ToolMissing, match="'no-such-program-x' is not installed"):
        run(Command(("no-such-program-x",), nice=5))


def test_secrets_reach_the_child_by_environment_and_are_masked_in_logs(caplog) -> None:
    register_secret("s3cr3t-value-xyz")
    command = Command((sys.executable, "-c", "import os; print(os.environ['TOKEN'])"), {"TOKEN": "s3cr3t-value-xyz"})
    with caplog.at_level(logging.DEBUG):
        result = run(command)
    assert result.stdout.strip() == "s3cr3t-value-xyz"
    assert "s3cr3t-value-xyz" not in caplog.text
    assert "TOKEN" in describe(command)


def test_inherited_restic_and_aws_variables_are_not_passed_on(monkeypatch) -> None:
    import seawall.backup.backends  # noqa: F401  (loading the storage seam tells the runner what to scrub)

    monkeypatch.setenv("RESTIC_PASSWORD", "leaked")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leaked")
    code = "import os; print(os.environ.get('RESTIC_PASSWORD'), os.environ.get('AWS_SECRET_ACCESS_KEY'))"
    assert run(Command((sys.executable, "-c", code))).stdout.strip() == "None None"


def test_a_process_that_never_loads_the_storage_seam_still_passes_on_no_restic_or_aws_variable() -> None:
    child = (
        "import sys; from seawall.runner import Command, run; "
        "code = \"import os; print(os.environ.get('RESTIC_PASSWORD'), os.environ.get('AWS_SECRET_ACCESS_KEY'))\"; "
        "print(run(Command((sys.executable, '-c', code))).stdout.strip()); "
        "print('seawall.backup.backends' in sys.modules)"
    )
    env = {**os.environ, "RESTIC_PASSWORD": "leaked", "AWS_SECRET_ACCESS_KEY": "leaked"}
    done = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["None None", "False"]


def test_the_runner_scrubs_restics_variables_and_every_backends_and_nothing_else() -> None:
    from seawall.backup.backends import BACKENDS, SCRUBBED_PREFIXES
    from seawall.runner import scrubbed_prefixes

    declared = {prefix for kind, _ in BACKENDS.values() for prefix in kind.variable_prefixes}
    assert set(SCRUBBED_PREFIXES) == {"RESTIC_", *declared} == {"RESTIC_", "AWS_"}
    assert set(scrubbed_prefixes()) == set(SCRUBBED_PREFIXES)


def test_metrics_render_as_prometheus_text_with_full_precision() -> None:
    text = render_metrics(
        "seawall_backup",
        {"host": 'a"b', "set": "s"},
        {"last": 1795900000.123456, "count": 3, "skip": None},
        {"last": "L"},
    )
    assert 'seawall_backup_last{host="a\\"b",set="s"} 1795900000.123456' in text
    assert 'seawall_backup_count{host="a\\"b",set="s"} 3' in text
    assert "skip" not in text
    assert "# TYPE seawall_backup_last gauge" in text


def test_several_label_sets_share_one_help_and_type_and_promtool_accepts_them() -> None:
    import shutil
    import subprocess

    from seawall.backup.metrics import render_series

    text = render_series(
        "seawall_status",
        [({"environment": "e"}, {"deep": 1}), *(({"set": s, "backup_host": "h"}, {"alarm": 0}) for s in "ab")],
        {"alarm": "A", "deep": "D"},
    )
    lines = text.splitlines()
    assert lines.count("# HELP seawall_status_alarm A") == 1
    alarm = lines.index("# TYPE seawall_status_alarm gauge")
    assert lines[alarm + 1 : alarm + 3] == [
        'seawall_status_alarm{backup_host="h",set="a"} 0',
        'seawall_status_alarm{backup_host="h",set="b"} 0',
    ]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    checked = subprocess.run([promtool, "check", "metrics"], input=text, text=True, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
