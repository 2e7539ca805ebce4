"""`triage eval` end to end (issue 15): the real CLI and the real openai SDK against the scripted
server; pass^k on a model that answers inconsistently, --min's exit code, --json's shape, and
nothing stored unless --keep."""

from __future__ import annotations

import json
from pathlib import Path

from scripted_server import ScriptedServer, answer, tools

CASES = [
    {"id": "late", "message": "Where is A1002?", "expect": {"next_step": "answer", "order_id": "A1002",
                                                             "mentions": ["weather"]}},
    {"id": "refund", "message": "I want a refund for A1003", "expect": {"next_step": "escalate", "order_id": "A1003"}},
    {"id": "cancel", "message": "Please cancel it", "order": "A1001",
     "expect": {"next_step": "escalate", "order_id": "A1001"}},
]
RIGHT = {"Where is A1002?": ("answer", "A1002", "A1002 is late because of the weather."),
         "I want a refund for A1003": ("escalate", "A1003", "A refund needs a supervisor."),
         "Please cancel it": ("escalate", "A1001", "A cancellation needs a supervisor.")}


def case_file(tmp_path: Path) -> str:
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(case) + "\n" for case in CASES))
    return str(path)


def scripted_model(*, consistent: bool):
    """Looks the case's order up, then answers each message right; when not `consistent`, every
    second time it is asked the same message it says the opposite next step (so each case is
    right in one trial of two)."""
    asked: dict[str, int] = {}

    def reply(body: dict, index: int):
        question = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        message = next(text for text in RIGHT if text in question)
        step, order_id, text = RIGHT[message]
        if body["messages"][-1]["role"] != "tool":
            return tools(("get_order_status", {"order_id": order_id}))
        asked[message] = asked.get(message, 0) + 1
        if not consistent and asked[message] % 2 == 0:
            step = "answer" if step == "escalate" else "escalate"
        return answer(f"{text}\n\n**Next step:** {step}.", order_id=order_id, issue="scripted", status="-",
                      next_step=step, summary=text)

    return reply


def test_pass_k_on_an_inconsistent_model_and_the_json_shape(run_triage, tmp_path, triage_env):
    with ScriptedServer(scripted_model(consistent=False)) as server:
        # The guard off: scored as the model decides (with it, triage escalates the refund and the
        # cancellation whatever the model says; see the next test).
        env = {"OPENAI_API_KEY": "sk-test-not-a-real-key", "OPENAI_BASE_URL": server.base_url,
               "TRIAGE_POLICY_GUARD": "off"}
        result = run_triage("eval", case_file(tmp_path), "--provider", "openai", "--trials", "2", "--json", env=env)

    assert result.code == 0, result.err
    report = json.loads(result.out)
    summary = report["summary"]
    assert summary["cases"] == 3 and summary["trials"] == 2
    assert summary["next_step_accuracy"] == 0.5  # each case right once in two trials ...
    assert summary["pass^2"] == 0.0  # ... so none passes both
    assert summary["missed_escalations"] == 2 and summary["needless_escalations"] == 1
    assert summary["confusion"] == {"answer->answer": 1, "answer->escalate": 1,
                                    "escalate->escalate": 2, "escalate->answer": 2}
    assert summary["per_case"]["model_calls"] == 2 and summary["per_case"]["tokens"] > 0
    assert summary["guard_overrides"] == 0
    assert set(report["cases"]) == {"late", "refund", "cancel"}
    late = report["cases"]["late"]
    assert late["expected"] == CASES[0]["expect"] and late["right"] is False
    first, second = late["trials"]
    assert first["right"] is True and first["got"]["next_step"] == "answer" and first["checks"]["mentions"]
    assert second["right"] is False and second["why"] == ["needless escalation: expected answer, got escalate (scripted)"]
    assert first["got"]["guard"] is None
    assert report["cases"]["cancel"]["trials"][0]["got"]["order_id"] == "A1001"  # the case's order was sent
    assert not (Path(triage_env["TRIAGE_HOME"]) / "triage.sqlite").exists()  # no history, no ticket


def test_the_guard_escalates_what_an_inconsistent_model_answers_and_eval_counts_it(run_triage, tmp_path, triage_env):
    with ScriptedServer(scripted_model(consistent=False)) as server:
        env = {"OPENAI_API_KEY": "sk-test-not-a-real-key", "OPENAI_BASE_URL": server.base_url}
        result = run_triage("eval", case_file(tmp_path), "--provider", "openai", "--trials", "2", "--json", env=env)
        text = run_triage("eval", case_file(tmp_path), "--provider", "openai", "--trials", "2", env=env)

    assert result.code == 0, result.err
    summary = json.loads(result.out)["summary"]
    # The model says answer to the refund and the cancellation once each: triage escalates both.
    assert summary["missed_escalations"] == 0 and summary["confusion"]["escalate->escalate"] == 4
    assert summary["guard_overrides"] == 2
    assert summary["guard_overrides_by_outcome"] == {"prevented_missed": 2, "made_needless": 0}
    assert summary["needless_escalations"] == 1  # the model's own needless escalate stands
    assert "guard overrides 2 (the model said answer; triage escalated): 2 prevented a missed escalation" in text.out


def test_min_gives_exit_1_and_the_report_shows_the_score_without_a_progress_bar(run_triage, tmp_path, triage_env):
    with ScriptedServer(scripted_model(consistent=True)) as server:
        env = {"OPENAI_API_KEY": "sk-test-not-a-real-key", "OPENAI_BASE_URL": server.base_url}
        cases = case_file(tmp_path)
        with open(cases, "a") as f:  # a fourth case the model gets wrong: 75%
            f.write(json.dumps({"id": "x", "message": "Where is A1002?",
                                "expect": {"next_step": "escalate"}}) + "\n")
        under = run_triage("eval", cases, "--provider", "openai", "--min", "80%", "--concurrency", "2", env=env)
        over = run_triage("eval", cases, "--provider", "openai", "--min", "0.7", "--keep", env=env)

    assert under.code == 1, under.err
    assert "accuracy           75.0%" in under.out and "is under --min 80.0%" in under.out
    assert "missed escalations 1, needless escalations 0" in under.out
    assert "x: Where is A1002?" in under.out and "missed escalation" in under.out
    assert "\r" not in under.err and "scoring" not in under.err  # no progress bar in a pipe
    assert over.code == 0, over.err
    assert (Path(triage_env["TRIAGE_HOME"]) / "triage.sqlite").exists()  # --keep stores the turns


def test_bad_input_is_one_line_and_exit_2(run_triage, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(CASES[0]) + "\nnot json\n")
    result = run_triage("eval", str(bad))
    assert result.code == 2 and result.err.strip().count("\n") == 0
    assert "line 2: not JSON" in result.err and "Traceback" not in result.err


def test_a_needless_escalation_naming_two_topics_counts_once():
    from triage_cli.eval.cases import Case
    from triage_cli.eval.scoring import CaseResult, Trial, summarise

    case = Case(id="c1", message="Where is A1002? I got my refund for the other one.", next_step="answer")
    summary = summarise([CaseResult(case, [Trial(next_step="escalate", issue="refund, billing")])], 1)
    assert summary["needless_escalations"] == 1 and summary["confusion"]["answer->escalate"] == 1
    assert summary["needless_by_topic"] == {"refund": 1, "billing": 1}


def test_evals_help_names_every_shipped_part(run_triage):
    from triage_cli.eval.cases import SHIPPED

    result = run_triage("eval", "--help", env={"COLUMNS": "200"})
    assert result.code == 0
    assert SHIPPED[0] in result.out and SHIPPED[-1] in result.out  # dev … the newest outsider part


# --------------------------------------------------------------------------- slow models (issue 27)


def model_env(server: ScriptedServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test-not-a-real-key", "OPENAI_BASE_URL": server.base_url, "TRIAGE_POLICY_GUARD": "off"}


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_out_appends_each_result_and_resume_runs_only_the_cases_not_there(run_triage, tmp_path):
    out = tmp_path / "run.jsonl"
    with ScriptedServer(scripted_model(consistent=True)) as server:
        first = run_triage("eval", case_file(tmp_path), "--provider", "openai", "--sample", "2", "--seed", "5",
                           "--out", str(out), "--json", env=model_env(server))
        asked_first = len(server.requests)
        second = run_triage("eval", case_file(tmp_path), "--provider", "openai", "--resume", str(out), "--json",
                            env=model_env(server))
        asked_second = len(server.requests) - asked_first

    assert first.code == 0 and second.code == 0, first.err + second.err
    sampled = [line["id"] for line in lines_of(out)[:2]]
    assert asked_first == 4 and json.loads(first.out)["summary"]["cases"] == 2  # a lookup and an answer each
    assert asked_second == 2  # the two already in the file were not asked again
    assert sorted(line["id"] for line in lines_of(out)) == ["cancel", "late", "refund"]
    summary = json.loads(second.out)["summary"]
    assert summary["cases"] == 3 and summary["accuracy"] == 1.0  # the earlier results count too
    assert lines_of(out)[0]["trials"][0]["got"]["next_step"] in ("answer", "escalate")
    assert (out.stat().st_mode & 0o777) == 0o600  # customers' words: private
    again = run_triage("eval", case_file(tmp_path), "--sample", "2", "--seed", "5", "--json")
    assert sorted(json.loads(again.out)["cases"]) == sorted(sampled)  # the same seed, the same sample
    other = run_triage("eval", case_file(tmp_path), "--trials", "2", "--resume", str(out))  # another kind of run
    assert other.code == 2 and "holds results of another run (openai gpt-4.1-mini, 1 trial(s) a case)" in other.err
    assert len(lines_of(out)) == 3 and lines_of(out)[0]["run"] == {"provider": "openai", "model": "gpt-4.1-mini",
                                                                     "trials": 1}


def stopped_run(tmp_path: Path, triage_env: dict[str, str], signum: int, *extra: str):
    """`triage eval` on the three cases with a model that answers the first at once and stalls
    in the second until the test has sent `signum`; the process's output, exit code and out file."""
    import subprocess
    import sys
    import threading

    import dataclasses

    from serve_helpers import eventually

    release = threading.Event()
    right = scripted_model(consistent=True)

    def reply(body: dict, index: int):
        said = right(body, index)
        if index < 3:  # the first case's lookup and answer, the second's lookup
            return said
        return dataclasses.replace(said, stall_after=1, stall_seconds=60, stall_until=release)

    out = tmp_path / "run.jsonl"
    with ScriptedServer(reply) as server:
        env = {**triage_env, **model_env(server)}
        process = subprocess.Popen([sys.executable, "-m", "triage_cli", "eval", case_file(tmp_path), "--provider",
                                    "openai", "--out", str(out), *extra], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            eventually(lambda: out.exists() and out.read_text().count("\n") == 1 and len(server.requests) == 4,
                       "the first case scored and the second asked")
            process.send_signal(signum)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            release.set()
            if process.poll() is None:
                process.kill()
                process.wait()
    return process.returncode, stdout, stderr, out


def test_ctrl_c_prints_the_figures_of_the_cases_done_so_far(tmp_path, triage_env):
    import signal

    code, stdout, stderr, out = stopped_run(tmp_path, triage_env, signal.SIGINT)
    assert code == 130, stderr
    assert "triage eval: 1 cases x 1 trial" in stdout and "accuracy           100.0%" in stdout
    assert "stopped by SIGINT after 1 of 3 cases" in stdout and "Traceback" not in stderr
    assert [line["id"] for line in lines_of(out)] == ["late"]


def test_sigterm_with_json_still_prints_the_object(tmp_path, triage_env):
    import signal

    code, stdout, stderr, out = stopped_run(tmp_path, triage_env, signal.SIGTERM, "--json")
    assert code == 143, stderr
    report = json.loads(stdout)
    assert report["summary"]["stopped"] == {"signal": "SIGTERM", "cases_done": 1, "cases": 3}
    assert list(report["cases"]) == ["late"] and report["summary"]["cases"] == 1


def test_progress_on_a_terminal_shows_cases_accuracy_so_far_and_time_left(tmp_path, triage_env):
    import sys

    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "eval", "blind", "--sample", "40"],
                          env=triage_env, dimensions=(24, 120), encoding="utf-8", timeout=60)
    child.expect(r"right so far \d+/\d+ \(\d+%\) left")  # the time left follows
    child.expect(pexpect.EOF)
    assert "triage eval: 40 cases" in child.before


def test_results_files_that_would_mix_runs_or_cases_are_refused_in_one_line(run_triage, tmp_path):
    cases = case_file(tmp_path)
    out = tmp_path / "run.jsonl"
    assert run_triage("eval", cases, "--out", str(out)).code == 0
    again = run_triage("eval", cases, "--out", str(out))  # a second run would mix its lines in
    assert again.code == 2 and again.err.strip() == f"error: {out} is not empty: resume it with --resume {out}, or name a new file"
    into_cases = run_triage("eval", cases, "--out", cases)
    assert into_cases.code == 2 and "is not empty" in into_cases.err
    folder = run_triage("eval", cases, "--out", str(tmp_path))
    assert folder.code == 2 and "is a directory" in folder.err and "Traceback" not in folder.err
    device = run_triage("eval", cases, "--resume", "/dev/zero")  # never read without end
    assert device.code == 2 and "/dev/zero is not a regular file" in device.err
    other = tmp_path / "other.jsonl"
    other.write_text(Path(cases).read_text().replace("Where is A1002?", "Where is A1005?"))
    mixed = run_triage("eval", str(other), "--resume", str(out))
    assert mixed.code == 2 and "holds results of other cases (case late says something else)" in mixed.err


def test_with_every_part_each_case_is_named_with_its_part_so_none_is_lost_or_mixed_up():
    from triage_cli.eval.cases import load_cases

    ids = [case.id for case in load_cases(None)]  # what `triage eval` runs, keys its --json and resumes by
    assert len(ids) == len(set(ids)) and {"blind5/v001", "blind13/v001"} <= set(ids)
