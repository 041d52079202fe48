"""`responder recover` with a selection: listed first, only the chosen changes undone, refusals exit 2."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from tests.remediation_env import BUCKET, ROGUE_USER, Incident, emulated_incident
from tests.test_recover_buckets import INC, changes, item_of, keys, whole_incident
from workstation.cli import main


@pytest.fixture
def inc(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Incident]:
    with emulated_incident() as incident:
        whole_incident(incident)
        monkeypatch.setenv("INCIDENT_TABLE", incident.table)
        yield incident


class _Stdin(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__("")
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def rows(out: str) -> dict[str, list[str]]:
    """The listing's rows by id: [status, undo action, ...] (the header first, a summary line last)."""
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:-1]}


def test_dry_run_lists_every_change_with_its_id_and_changes_nothing(inc: Incident, capsys):
    state = inc.state()
    plan = changes(inc, dry_run=True)

    assert main(["recover", "--incident", INC, "--target", inc.env.key, "--dry-run"]) == 0

    out = capsys.readouterr().out
    listed = rows(out)
    assert set(listed) == {i.ref for i in plan}
    key = item_of(plan, "undo_disable_access_key")
    assert listed[key.ref][:2] == ["would_do", "undo_disable_access_key"]
    assert [r[0] for r in listed.values()].count("not_selected") == 4
    assert f"bucket {BUCKET} statement(s) removed: Sid Backup" in out
    assert out.splitlines()[-1] == "dry run: 1 change(s) would be undone, 4 not selected; nothing changed"
    assert inc.state() == state


def test_yes_undoes_the_selection_only_and_says_what_is_left(inc: Incident, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", _Stdin(tty=False))
    fixed = inc.policy()

    assert main(["recover", "--incident", INC, "--target", inc.env.key, "--yes"]) == 0

    assert keys(inc, inc.env.user)[inc.env.key] == "Active"
    assert keys(inc, ROGUE_USER)[inc.rogue_user_key] == "Inactive" and inc.policy() == fixed
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "4 change(s) not selected, left as is; recover again to undo them"
    # The rest, later: the owner's key is already done, the others are undone now.
    assert main(["recover", "--incident", INC, "--yes"]) == 0
    assert keys(inc, ROGUE_USER)[inc.rogue_user_key] == "Active"
    assert "not selected" not in capsys.readouterr().out


def test_the_prompt_counts_the_selection(inc: Incident, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", _Stdin(tty=True))
    prompts: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "n")
    state = inc.state()
    bpa = item_of(changes(inc, dry_run=True), "undo_block_public_access")

    assert main(["recover", "--incident", INC, "--only", bpa.ref, "--target", inc.env.key]) == 1

    assert prompts == ["Undo 2 changes? [y/N] "]
    assert inc.state() == state


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--only", "deadbeef"], "--only deadbeef names no recorded change of incident"),
        (["--target", "user/nobody"], "--target user/nobody is on no recorded change"),
        (["--except", "nothing"], "is not a change id"),
    ],
)
def test_an_unknown_selector_exits_2_with_one_line_and_changes_nothing(inc: Incident, capsys, argv, said):
    state = inc.state()

    assert main(["recover", "--incident", INC, *argv, "--yes"]) == 2

    captured = capsys.readouterr()
    assert said in captured.err and captured.err.count("\n") == 1 and captured.out == ""
    assert inc.state() == state


def test_a_selection_that_breaks_the_order_exits_2_naming_what_to_add(inc: Incident, capsys):
    plan = changes(inc, dry_run=True)
    statement = item_of(plan, "undo_remove_policy_statements")
    bpa = item_of(plan, "undo_block_public_access")
    state = inc.state()

    assert main(["recover", "--incident", INC, "--only", statement.ref, "--yes"]) == 2

    err = capsys.readouterr().err
    assert f"selection refused, nothing changed: add --only {bpa.ref} (or leave {statement.ref} out)" in err
    assert inc.state() == state
