"""`fallback = "offline"`: when the model cannot be reached or fails (after the SDK's retries)
before it has said a word of the answer, the offline rules answer the same question instead, with
a notice saying so and `Done.answered_by = "offline"`. An answer the model began is never
replaced: its failure stands, as without the fallback."""

from __future__ import annotations

import contextlib
from typing import Any

from triage_cli.engine.base import Engine
from triage_cli.engine.conversation import Conversation
from triage_cli.engine.events import Done, Error, EventStream, Notice, TextDelta, Usage
from triage_cli.engine.offline import NOTICE as OFFLINE_NOTICE

FALLING_BACK = ("error", "model", "empty")  # the kinds of failure the rules stand in for
NOTE = "The model failed, so the offline rules engine answered: {error}."
HINT = "fallback = \"offline\" is set; check the model's endpoint (triage models), or unset fallback."


def stood_in(event: object) -> bool:
    """Whether `event` is the notice that the rules stood in for a model that failed."""
    return isinstance(event, Notice) and event.hint == HINT


class FallbackEngine:
    """`primary` (the model agent), with `standby` (the offline engine) answering in its place
    when it fails before its answer began. Everything else (its modes, its warm-up) is the
    primary's."""

    def __init__(self, primary: Engine, standby: Engine) -> None:
        self.primary, self.standby = primary, standby

    def __getattr__(self, name: str) -> Any:  # structured_mode, tool_round_mode, …: the primary's
        return getattr(self.primary, name)

    def warm_up(self) -> None:
        self.primary.warm_up()

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.standby.aclose()

    async def run(self, conversation: Conversation) -> EventStream:
        start = len(conversation.messages)  # the question is in: what the primary adds goes on failure
        answered = False  # a word of the answer was shown: the model's failure stands
        held: Usage | None = None  # the usage comes just before a failure: held until it is known
        failure: Error | None = None
        async with contextlib.aclosing(self.primary.run(conversation)) as events:
            async for event in events:
                if isinstance(event, Usage):
                    held = event
                    continue
                if isinstance(event, Error) and not answered and event.kind in FALLING_BACK:
                    failure = event
                    break
                if held is not None:
                    yield held
                    held = None
                answered = answered or isinstance(event, TextDelta)
                yield event
        if failure is None:
            if held is not None:
                yield held
            return
        del conversation.messages[start:]  # its tool rounds and "[interrupted]": the rules answer in its place
        async for event in self._stand_in(conversation, failure, held or Usage()):
            yield event

    async def _stand_in(self, conversation: Conversation, failure: Error, spent: Usage) -> EventStream:
        """The rules' answer, said to stand in; the usage counts the model's calls that failed."""
        yield Notice(NOTE.format(error=failure.message), hint=HINT)
        async with contextlib.aclosing(self.standby.run(conversation)) as events:
            async for event in events:
                if isinstance(event, Notice) and event.text == OFFLINE_NOTICE:
                    continue  # "no model": this one said why above
                if isinstance(event, Usage):
                    event = Usage(spent.model_calls + event.model_calls, spent.prompt_tokens + event.prompt_tokens,
                                  spent.completion_tokens + event.completion_tokens,
                                  None if event.ttft_ms is None else spent.total_ms + event.ttft_ms,
                                  spent.total_ms + event.total_ms)
                elif isinstance(event, Done):
                    event = Done(event.reply, event.finish_reason, answered_by="offline")
                yield event
