"""Pure logic of the restic wrapper: argv builders, feature table, masking, subset rotation, classification."""

from __future__ import annotations

from pathlib import Path

import pytest

from procops.backup import restic as r
from procops.errors import BadInput


def test_parse_version_debian_line():
    assert r.parse_version("restic 0.14.0 compiled with go1.19.8 on linux/amd64") == (0, 14, 0)


def test_parse_version_rejects_garbage():
    with pytest.raises(ValueError):
        r.parse_version("rustic 1.0")


def test_features_of_debian_restic():
    v = (0, 14, 0)
    assert r.available("copy_from_repo", v)
    assert not r.available("stdin_from_command", v)
    assert not r.available("retry_lock", v)
    assert not r.available("specific_exit_codes", v)
    assert r.available("retry_lock", (0, 16, 4))


def test_global_args_gate_retry_lock_on_version():
    assert "--retry-lock" not in r.global_args(retry_lock="1m", version=(0, 14, 0))
    assert r.global_args(retry_lock="1m", version=(0, 17, 3))[-2:] == ("--retry-lock", "1m")


def test_backup_args_puts_paths_after_double_dash():
    a = r.backup_args([Path("/srv/docs"), "/tmp/m.json"], tags=["procops", "run=1"], excludes=["/srv/docs/.incoming"])
    assert a == (
        "backup",
        "--exclude",
        "/srv/docs/.incoming",
        "--tag",
        "procops",
        "--tag",
        "run=1",
        "--",
        "/srv/docs",
        "/tmp/m.json",
    )


def test_backup_args_needs_a_path():
    with pytest.raises(ValueError):
        r.backup_args([])


def test_tag_with_comma_is_refused():
    with pytest.raises(ValueError):
        r.tag_args(["a,b"])


def test_backup_stdin_args():
    assert r.backup_stdin_args("database/platform.sqlite3", tags=["procops"]) == (
        "backup",
        "--stdin",
        "--stdin-filename",
        "database/platform.sqlite3",
        "--tag",
        "procops",
    )


def test_forget_args_keep_flags_and_grouping():
    a = r.forget_args(keep_hourly=24, keep_daily=7, keep_weekly=0, keep_monthly=12, tags=["procops"])
    assert a == (
        "forget",
        "--group-by",
        "host,paths",
        "--keep-hourly",
        "24",
        "--keep-daily",
        "7",
        "--keep-monthly",
        "12",
        "--tag",
        "procops",
    )


def test_forget_args_refuses_keeping_nothing():
    with pytest.raises(ValueError):
        r.forget_args(keep_hourly=0, keep_daily=0, keep_weekly=0, keep_monthly=0)


def test_forget_args_by_id():
    assert r.forget_args(keep_hourly=0, keep_daily=0, keep_weekly=0, keep_monthly=0, snapshot_ids=["ab", "cd"]) == (
        "forget",
        "ab",
        "cd",
    )


def test_check_args():
    assert r.check_args() == ("check",)
    assert r.check_args("3/8") == ("check", "--read-data-subset", "3/8")
    assert r.check_args(read_all=True) == ("check", "--read-data")


def test_unlock_never_removes_all():
    assert "--remove-all" not in r.unlock_args()


def test_init_copies_chunker_params_for_offsite():
    assert r.init_args(copy_chunker_params=True) == ("init", "--copy-chunker-params")


def test_restore_and_dump_args():
    assert r.restore_args("abc", Path("/t"), includes=["/x"]) == ("restore", "abc", "--target", "/t", "--include", "/x")
    assert r.dump_args("abc", "/database/x.sql") == ("dump", "abc", "/database/x.sql")


def test_copy_args():
    assert r.copy_args(tags=["procops"]) == ("copy", "--tag", "procops")


@pytest.mark.parametrize("last,t,want", [(None, 8, 1), (1, 8, 2), (8, 8, 1), (9, 8, 1), (3, 1, 1)])
def test_next_subset_rotates(last, t, want):
    assert r.next_subset(last, t) == want


def test_t_consecutive_subsets_cover_everything():
    seen, last = [], None
    for _ in range(16):
        last = r.next_subset(last, 16)
        seen.append(r.subset_spec(last, 16))
    assert sorted(seen) == sorted(f"{n}/16" for n in range(1, 17))


def test_subset_count_must_divide_256():
    with pytest.raises(ValueError):
        r.subset_spec(1, 7)


@pytest.mark.parametrize(
    "text,want",
    [
        ("all", (None, True)),
        ("100%", (None, True)),
        ("2/5", ("2/5", False)),
        ("10%", ("10%", False)),
        ("500m", ("500M", False)),
    ],
)
def test_parse_subset_option(text, want):
    assert r.parse_subset_option(text) == want


@pytest.mark.parametrize("text", ["0/5", "6/5", "x", "0%", "150%"])
def test_parse_subset_option_rejects(text):
    with pytest.raises(BadInput):
        r.parse_subset_option(text)


def test_mask_argv_hides_password_values_and_url_passwords():
    argv = ["x", "--password", "hunter2", "--token=abc", "--password-file", "/p", "rest:https://u:pw@h/r"]
    out = r.mask_argv(argv)
    assert "hunter2" not in out and "--token=abc" not in out and "pw@" not in " ".join(out)
    assert "/p" in out


def test_mask_env_keeps_file_paths_hides_values():
    out = r.mask_env(
        {
            "RESTIC_PASSWORD_FILE": "/s/p",
            "PGPASSWORD": "x",
            "RESTIC_PASSWORD_COMMAND": "pass show x",
            "RESTIC_REPOSITORY": "sftp:u@h:/r",
        }
    )
    assert out["RESTIC_PASSWORD_FILE"] == "/s/p"
    assert out["PGPASSWORD"] == r.MASK and out["RESTIC_PASSWORD_COMMAND"] == r.MASK


def test_repo_env_passes_password_only_by_file_or_command():
    a = r.Repo("local", "/r", password_file=Path("/s/p"))
    assert a.env() == {"RESTIC_REPOSITORY": "/r", "RESTIC_PASSWORD_FILE": "/s/p"}
    b = r.Repo("off", "sftp:u@h:/r", password_command=("pass", "show", "restic key"), offsite=True)
    assert b.env("RESTIC_FROM_")["RESTIC_FROM_PASSWORD_COMMAND"] == "pass show 'restic key'"


def test_repo_needs_exactly_one_password_source():
    with pytest.raises(BadInput):
        r.Repo("x", "/r")


def test_backend_of():
    assert r.backend_of("/srv/r") == "local"
    assert r.backend_of("sftp:backup@10.0.0.2:/srv/r") == "sftp"
    assert r.backend_of("rest:https://h/r") == "rest"
    assert r.Repo("x", "local:/a", password_file=Path("/p")).local_path == Path("/a")


def test_base_env_drops_inherited_secrets(monkeypatch):
    monkeypatch.setenv("RESTIC_PASSWORD", "leak")
    monkeypatch.setenv("PGPASSWORD", "leak")
    env = r.base_env({"RESTIC_REPOSITORY": "/r"})
    assert "RESTIC_PASSWORD" not in env and "PGPASSWORD" not in env and env["RESTIC_REPOSITORY"] == "/r"


@pytest.mark.parametrize(
    "rc,err,want",
    [
        (1, "Fatal: unable to create lock in backend: repository is already locked by PID 12", r.Problem.LOCKED),
        (
            1,
            "Fatal: unable to open config file: stat /x/config: no such file or directory\n"
            "Is there a repository at the following location?",
            r.Problem.NOT_INITIALISED,
        ),
        (
            1,
            "Fatal: unable to open config file: stat /x/config: permission denied\n"
            "Is there a repository at the following location?",
            r.Problem.UNREACHABLE,
        ),
        (
            1,
            "Fatal: unable to open config file: stat /srv/timeout-ssh-connection/repo/config: no such file or "
            "directory\nIs there a repository at the following location?\n/srv/timeout-ssh-connection/repo",
            r.Problem.NOT_INITIALISED,  # words of the repository's own path are not a diagnosis
        ),
        (
            1,
            "Fatal: unable to open config file: Lstat: dial tcp 10.0.0.9:22: i/o timeout\n"
            "Is there a repository at the following location?",
            r.Problem.UNREACHABLE,
        ),
        (1, "Fatal: wrong password or no key found", r.Problem.WRONG_PASSWORD),
        (1, "Save(<data/ab>) returned error: write /r/data/ab: no space left on device", r.Problem.NO_SPACE),
        (3, "Warning: at least one source file could not be read", r.Problem.INCOMPLETE),
        (1, "something else", r.Problem.OTHER),
    ],
)
def test_classify_restic_0_14_messages(rc, err, want):
    assert r.classify(rc, err, (0, 14, 0)) is want


def test_classify_uses_exit_codes_when_the_version_has_them():
    assert r.classify(11, "", (0, 17, 0)) is r.Problem.LOCKED
    assert r.classify(10, "", (0, 17, 0)) is r.Problem.NOT_INITIALISED


def test_error_messages_mask_passwords_inside_urls():
    e = r.ResticError(
        "offsite",
        "snapshots",
        1,
        "Fatal: unable to open repo at rest:https://bk:hunter2@dr/r\nIs there a repository at the following location?",
        r.Problem.NOT_INITIALISED,
    )
    assert "hunter2" not in e.message and "hunter2" not in e.output and "bk:********@dr" in e.message


GO_TRACE_OUTPUT = """open /srv/off/locks/99-tmp-1: read-only file system
github.com/restic/restic/internal/backend/local.(*Local).Save
\tgithub.com/restic/restic/internal/backend/local/local.go:153
main.main
\tgithub.com/restic/restic/cmd/restic/main.go:98
runtime.goexit
\truntime/asm_amd64.s:1594
unable to create lock in backend"""


def test_a_read_only_file_system_is_read_only_not_a_lock_held():
    assert r.classify(1, GO_TRACE_OUTPUT, (0, 14, 0)) is r.Problem.READ_ONLY


def test_restic_killed_from_outside_is_an_interruption():
    assert r.classify(-9, "", (0, 14, 0)) is r.Problem.INTERRUPTED
    assert r.classify(-15, "", (0, 14, 0)) is r.Problem.INTERRUPTED


def test_the_tail_gives_the_cause_line_first_and_no_stack_frames():
    t = r.tail(GO_TRACE_OUTPUT)
    assert t.startswith("open /srv/off/locks/99-tmp-1: read-only file system")
    assert ".go:" not in t and "runtime." not in t and "main.main" not in t


def test_forget_args_keep_yearly_and_keep_within_for_the_fifteen_year_profile():
    a = r.forget_args(
        keep_hourly=24, keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=15, keep_within="15y", prune=True
    )
    assert a[a.index("--keep-yearly") + 1] == "15" and a[a.index("--keep-within") + 1] == "15y"
    assert "--prune" in a


def test_forget_args_keep_within_alone_keeps_something():
    a = r.forget_args(keep_hourly=0, keep_daily=0, keep_weekly=0, keep_monthly=0, keep_within="1y6m")
    assert a == ("forget", "--group-by", "host,paths", "--keep-within", "1y6m")
