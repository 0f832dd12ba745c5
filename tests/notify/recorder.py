"""A channel for the worker's own tests: it drafts one message per event and records
what it is asked to send, answering with the outcomes a test scripts."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from ordermill.notify.channels import (
    Audience,
    ChannelName,
    Draft,
    EventContext,
    Message,
    Outcome,
    Sent,
)


class Recorder:
    name = ChannelName.EMAIL

    def __init__(self, outcomes: Iterable[Outcome] = (), *, fail_render: bool = False) -> None:
        self._outcomes = list(outcomes)  # answered in turn, then Sent
        self._lock = threading.Lock()
        self.fail_render = fail_render
        self.sent: list[Message] = []
        self.attempts: Counter[int] = Counter()  # event id -> attempts

    def drafts(self, event: EventContext) -> list[Draft]:
        if self.fail_render:
            raise ValueError("the template is broken")
        return [
            Draft(
                ChannelName.EMAIL,
                Audience.CUSTOMER,
                f"event-{event.id}@example.com",
                {"subject": event.type, "order": event.order.number if event.order else None},
            )
        ]

    def send(self, message: Message) -> Outcome:
        with self._lock:
            self.attempts[message.event_id] += 1
            outcome = self._outcomes.pop(0) if self._outcomes else Sent(250)
            if isinstance(outcome, Sent):
                self.sent.append(message)
        return outcome

    def delivered(self) -> Counter[int]:
        """Event id -> how many times its message was sent."""
        with self._lock:
            return Counter(message.event_id for message in self.sent)
