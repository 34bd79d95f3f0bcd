"""restic command lines are data: the exact tuples, secrets only in the environment."""

from __future__ import annotations

import pytest

from seawall.backup.restic import (
    DiskFull,
    PartialBackup,
    RepositoryDamaged,
    RepositoryLocked,
    RepositoryMissing,
    ResticFailed,
    SnapshotNotFound,
    SourceMissing,
    StorageUnreachable,
    Target,
    WrongPassword,
    classify,
    make_backup_command,
    make_check_command,
    make_forget_ids_command,
    make_forget_plan_command,
    make_restore_command,
    make_snapshots_command,
    parse_json_lines,
)
from seawall.runner import Result

TARGET = Target("s3:https://ams3.digitaloceanspaces.com/b/restic/db", {"RESTIC_PASSWORD": "pw-123456"}, "restic", 60)


def test_backup_command_is_the_exact_tuple_and_keeps_secrets_out_of_argv() -> None:
    command = make_backup_command(TARGET, ["/srv/a", "/srv/b"], "db-1", "postgres", ["*.tmp"])
    assert command.argv == (
        "restic",
        "--repo",
        TARGET.repository,
        "backup",
        "--json",
        "--host",
        "db-1",
        "--tag",
        "seawall",
        "--tag",
        "set:postgres",
        "--exclude",
        "*.tmp",
        "/srv/a",
        "/srv/b",
    )
    assert command.env == {"RESTIC_PASSWORD": "pw-123456"}
    assert "pw-123456" not in " ".join(command.argv)
    assert command.timeout == 60


def test_forget_is_planned_read_only_per_host_then_applied_by_exact_ids() -> None:
    plan = make_forget_plan_command(TARGET, "postgres", {"keep_daily": "7", "keep_within": "2d"})
    assert plan.argv[3:] == (
        "forget",
        "--dry-run",
        "--json",
        "--no-lock",
        "--tag",
        "set:postgres",
        "--group-by",
        "host",
        "--keep-daily",
        "7",
        "--keep-within",
        "2d",
    )
    assert make_forget_ids_command(TARGET, ["a1", "b2"]).argv[3:] == ("forget", "a1", "b2")


def test_a_safety_snapshot_carries_its_extra_tag_after_the_set_tags() -> None:
    command = make_backup_command(TARGET, ["/srv/a"], "db-1", "postgres", tags=["seawall-safety"])
    assert command.argv[7:13] == ("--tag", "seawall", "--tag", "set:postgres", "--tag", "seawall-safety")


def test_other_commands() -> None:
    assert make_snapshots_command(TARGET, "s").argv[3:] == ("snapshots", "--json", "--no-lock", "--tag", "set:s")
    assert make_check_command(TARGET, "2/5").argv[3:] == ("check", "--read-data-subset=2/5")
    assert make_restore_command(TARGET, "abc", "/tmp/x").argv[3:] == (
        "restore",
        "abc",
        "--target",
        "/tmp/x",
        "--verify",
    )


def _result(code: int, stderr: str = "", timed_out: bool = False) -> Result:
    return Result(("restic",), code, "", stderr, 1.0, timed_out)


OLD, NEW = (0, 14, 0), (0, 17, 3)


@pytest.mark.parametrize(
    ("version", "code", "stderr", "expected"),
    [
        (OLD, 1, "Fatal: wrong password or no key found\n", WrongPassword),
        (
            OLD,
            1,
            "Fatal: unable to open config file: stat r/config: no such file\n"
            "Is there a repository at the following location?\n",
            RepositoryMissing,
        ),
        (
            OLD,
            1,
            "Fatal: unable to create lock in backend: repository is already locked by PID 7 on h\n",
            RepositoryLocked,
        ),
        (OLD, 1, "Fatal: all target directories/files do not exist\n", SourceMissing),
        (OLD, 3, "Warning: at least one source file could not be read\n", PartialBackup),
        (OLD, 1, "Fatal: something else\n", ResticFailed),
        (OLD, 12, "", ResticFailed),
        (NEW, 12, "", WrongPassword),
        (NEW, 10, "", RepositoryMissing),
        (NEW, 11, "", RepositoryLocked),
        (NEW, 3, "", PartialBackup),
        (NEW, 130, "", ResticFailed),
        (NEW, 0, "", None),
        # What restic 0.14 printed in the fault probes (an S3 port with nothing listening, a full tmpfs,
        # a deleted pack, a garbled index file, an id that is not there).
        (
            OLD,
            1,
            'Fatal: unable to open config file: Stat: Get "http://127.0.0.1:1/bucket/?location=": dial tcp '
            "127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\n",
            StorageUnreachable,
        ),
        (
            OLD,
            1,
            "ignoring error for /data/a.bin: write /t/full/data/a.bin: no space left on device\n"
            "Fatal: There were 33 errors\n",
            DiskFull,
        ),
        (
            OLD,
            1,
            "Load(<data/970dbf7b6d>, 247, 1639) returned error, retrying after 6.7s: open /r/data/97/"
            "970dbf7b6dbfb3473d1f10896e688315ffab86bda682512258318605096d6aaa: no such file or directory\n"
            "Fatal: repository contains errors\n",
            RepositoryDamaged,
        ),
        (
            OLD,
            1,
            "error: error loading index 31600006edea4e6f: load <index/31600006ed>: invalid data returned\n"
            "Fatal: LoadIndex returned errors\n",
            RepositoryDamaged,
        ),
        (OLD, 1, 'invalid id "deadbeef": no matching ID found for prefix "deadbeef"\n', SnapshotNotFound),
    ],
)
def test_failures_are_classified_by_code_where_the_version_has_them_and_by_stderr_otherwise(
    version, code, stderr, expected
) -> None:
    error = classify(_result(code, stderr), version, Target("repo"))
    assert (type(error) if error else None) is expected


def test_a_timeout_is_a_failure_even_with_exit_0_recorded() -> None:
    error = classify(_result(0, timed_out=True), OLD, Target("repo"))
    assert isinstance(error, ResticFailed)
    assert "timed out" in str(error)


def test_json_output_is_parsed_tolerantly() -> None:
    text = "\n".join(
        [
            "some plain line",
            '{"message_type":"status","percent_done":0.5}',
            "{not json",
            '{"message_type":"error","error":{"Op":"open","Path":"/a","Err":13},"during":"archival","item":"/a"}',
            '{"message_type":"error","error":"plain text error","item":"/b"}',
            '{"message_type":"summary","snapshot_id":"abc"}',
            '["a list"]',
        ]
    )
    output = parse_json_lines(text)
    assert [s["percent_done"] for s in output.statuses] == [0.5]
    assert output.summary == {"message_type": "summary", "snapshot_id": "abc"}
    assert output.errors == ["/a: 13", "/b: plain text error"]


def test_damage_names_the_pack_and_what_to_run_next() -> None:
    stderr = (
        "Load(<data/970dbf7b6d>, 247, 1639) returned error, retrying after 6.7s: open /r/data/97/"
        "970dbf7b6dbfb3473d1f10896e688315ffab86bda682512258318605096d6aaa: no such file or directory\n"
    )
    error = classify(_result(1, stderr, timed_out=True), OLD, Target("repo"))
    assert isinstance(error, RepositoryDamaged)
    assert error.packs == ["970dbf7b6dbfb3473d1f10896e688315ffab86bda682512258318605096d6aaa"]
    assert "pack 970dbf7b6d" in str(error)
    assert "`restic --repo repo rebuild-index` (with the set's password and keys)" in str(error)
    newer = classify(_result(1, stderr, timed_out=True), (0, 17, 3), Target("repo", environment="lab"))
    assert "`restic --repo repo repair index`" in str(newer)  # rebuild-index's name since restic 0.16
    copy = Target("repo", environment="lab", selection=("--set", "files", "--from", "copy"))
    in_copy = str(classify(_result(1, stderr, timed_out=True), OLD, copy))
    assert "`seawall check lab --set files --from copy --read-data`" in in_copy
    assert "backup run" not in in_copy  # a copy's data comes from its primary


# What restic 0.14 printed when a lock file was removed between its listing and its reading (another
# host's backup finishing): it retries the lock for about 45 s, then ignores it.
VANISHED_LOCK = (
    "Load(<lock/1f340cb95c>, 0, 0) returned error, retrying after 552.330144ms: open /r/locks/"
    "1f340cb95cfaccb65d5425c4ac4ef91feef81342b8237bfeda2364b598e06520: no such file or directory\n"
) * 3


def test_a_lock_that_went_away_is_never_reported_as_damage() -> None:
    assert classify(_result(0, VANISHED_LOCK), OLD, Target("repo")) is None
    timed_out = classify(_result(1, VANISHED_LOCK, timed_out=True), OLD, Target("repo"))
    assert type(timed_out) is ResticFailed
    assert "timed out" in str(timed_out)
    assert "lock 1f340cb95c that went away" in str(timed_out)
    assert "backup.command_timeout" in str(timed_out)
    locked = classify(
        _result(1, VANISHED_LOCK + "Fatal: unable to create lock in backend: repository is already locked\n"),
        OLD,
        Target("repo"),
    )
    assert isinstance(locked, RepositoryLocked)


def test_damage_beside_a_vanished_lock_is_still_damage() -> None:
    stderr = VANISHED_LOCK + (
        "Load(<data/970dbf7b6d>, 247, 1639) returned error, retrying after 6.7s: open /r/data/97/"
        "970dbf7b6dbfb3473d1f10896e688315ffab86bda682512258318605096d6aaa: no such file or directory\n"
    )
    error = classify(_result(1, stderr), OLD, Target("repo"))
    assert isinstance(error, RepositoryDamaged)
    assert error.packs == ["970dbf7b6dbfb3473d1f10896e688315ffab86bda682512258318605096d6aaa"]


def test_a_pack_whose_contents_changed_is_named_as_damage() -> None:
    stderr = (
        "read all data\nPack ID does not match, want a737f180c278d88014a3f56d6717c5117bf3358b56ce854a08bbb6685272cb64, "
        "got ef7b267e8eca4efa171571b7fd10944f56ebeedb203cb86a1124e8ed0c9db67b\nFatal: repository contains errors\n"
    )
    error = classify(_result(1, stderr), OLD, Target("repo", environment="lab", selection=("--set", "files")))
    assert isinstance(error, RepositoryDamaged)
    assert error.packs == ["a737f180c278d88014a3f56d6717c5117bf3358b56ce854a08bbb6685272cb64"]
    assert "pack a737f180c2 is missing or unreadable" in str(error)
    assert "run `seawall check lab --set files --read-data` to see all of the damage" in str(error)


def test_an_unreachable_endpoint_names_the_endpoint_and_never_says_init() -> None:
    stderr = (
        'Fatal: unable to open config file: Stat: Get "http://127.0.0.1:9/b/": dial tcp 127.0.0.1:9: '
        "connect: connection refused\nIs there a repository at the following location?\n"
    )
    error = classify(
        _result(1, stderr), OLD, Target("s3:http://127.0.0.1:9/b/restic/files", endpoint="http://127.0.0.1:9")
    )
    assert isinstance(error, StorageUnreachable)
    assert "the storage at http://127.0.0.1:9 cannot be reached" in str(error)
    assert "init" not in str(error)


def test_terminal_escapes_never_reach_a_message() -> None:
    error = classify(_result(1, "Fatal: \x1b[31mboom\x1b]0;title\x07 here\x1b[0m\n"), OLD, Target("repo"))
    assert "\x1b" not in str(error)
    assert "boom here" in str(error)


def test_a_lock_restic_does_not_describe_names_the_whole_command_that_lists_the_locks() -> None:
    error = classify(_result(11, "Fatal: no detail\n"), (0, 17, 3), Target("s3:http://h:9/b/r/files"))
    assert isinstance(error, RepositoryLocked)
    assert "see `restic --repo s3:http://h:9/b/r/files list locks` (with the set's password and keys)" in str(error)
