"""The workflow: the ASL as written, every placeholder substituted, every transition to a real state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from lambdas.steps import STEPS
from stacks.constructs.workflow import ASL, placeholders

pytestmark = pytest.mark.synth


def _state_machines(states: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every nested state machine (Parallel branches, Map iterators) under ``states``."""
    for state in states.values():
        for branch in state.get("Branches", []):
            yield branch
            yield from _state_machines(branch["States"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield state[key]
                yield from _state_machines(state[key]["States"])


def _targets(state: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if "Next" in state:
        yield "Next", state["Next"]
    if "Default" in state:
        yield "Default", state["Default"]
    for choice in state.get("Choices", []):
        yield "Choices.Next", choice["Next"]
    for catch in state.get("Catch", []):
        yield "Catch.Next", catch["Next"]


def test_asl_placeholders_are_exactly_the_steps_functions():
    assert placeholders() == {step.placeholder for step in STEPS}


def test_every_transition_names_a_state_of_its_own_state_machine():
    definition = json.loads(ASL.read_text())
    machines = [definition, *_state_machines(definition["States"])]
    assert len(machines) > 1, "the Investigate Parallel's branches are walked too"
    for machine in machines:
        names = set(machine["States"])
        assert machine["StartAt"] in names
        for name, state in machine["States"].items():
            for kind, target in _targets(state):
                assert target in names, f"{name}: {kind} -> {target!r} is not a state of its machine"
            terminal = state["Type"] in ("Succeed", "Fail") or state.get("End") is True
            assert terminal or "Next" in state or state["Type"] == "Choice", f"{name} has no way out"


def test_template_inlines_the_asl_and_substitutes_every_placeholder_with_its_function(synth):
    (machine,) = synth.of_type("AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["DefinitionString"] == ASL.read_text()
    substitutions = props["DefinitionSubstitutions"]
    assert set(substitutions) == placeholders()
    functions = synth.stack.functions.by_name
    for step in STEPS:
        logical_id = synth.stack.resolve(functions[step.name].function.function_arn)["Fn::GetAtt"][0]
        assert substitutions[step.placeholder] == {"Fn::GetAtt": [logical_id, "Arn"]}


def test_state_machine_is_standard_fully_logged_to_an_encrypted_group_and_traced(synth):
    (machine,) = synth.of_type("AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is True
    group_id = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    group = synth.resources[group_id]["Properties"]
    assert group["KmsKeyId"]["Fn::GetAtt"][1] == "Arn"
    assert group["RetentionInDays"] == synth.stack.settings.log_retention_days


def test_state_machine_role_invokes_exactly_the_step_functions(synth):
    (machine,) = synth.of_type("AWS::StepFunctions::StateMachine").values()
    role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    invoke = [s for s in statements if "lambda:InvokeFunction" in _list(s["Action"])]
    assert len(invoke) == 1 and _list(invoke[0]["Action"]) == ["lambda:InvokeFunction"]
    expected = {
        synth.stack.resolve(f.function.function_arn)["Fn::GetAtt"][0]
        for f in synth.stack.functions.by_name.values()
    }
    assert {r["Fn::GetAtt"][0] for r in _list(invoke[0]["Resource"])} == expected
    others = {a for s in statements if s is not invoke[0] for a in _list(s["Action"])}
    assert all(a.startswith(("logs:", "xray:")) for a in others), others


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
