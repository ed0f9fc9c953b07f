"""The desk model of the agent app, without Textual: the roster's team counts and
transfer targets, offers opened and settled, and the agent's teams first in the queue."""

from __future__ import annotations

from datetime import timedelta

from handoff_server.protocol import SAgentStatus, SOffer, SOfferEnded, SStaff
from handoff_tui.model import AgentModel, QueueFilter
from tests.tui_fixtures import NOW, SAM, queue_items, roster


def _model() -> AgentModel:
    model = AgentModel()
    model.signed_in(SAM)
    model.replace_queue(queue_items())
    model.desk_changed(SStaff(agents=roster()))
    return model


def test_team_counts_and_targets_follow_the_roster() -> None:
    model = _model()
    staff = model.staff
    assert staff.team_online("ag_sam") == [("billing", 2)]
    targets = staff.targets("ag_sam")
    assert [t.label.split(" · ")[0] for t in targets] == [
        "team billing",
        "team security",
        "team support",
        "Kim Okafor",
        "Lee Chen",
        "Olga Petrova",
    ]
    assert [t.available for t in targets[3:]] == [True, False, False]  # Lee away, Olga offline
    kim = next(a for a in roster() if a.name == "Kim Okafor")
    model.desk_changed(SAgentStatus(agent=kim.model_copy(update={"load": 3})))
    assert not staff.targets("ag_sam")[3].available  # Kim is full now
    model.desk_changed(SAgentStatus(agent=kim.model_copy(update={"status": "away"})))
    assert staff.team_online("ag_sam") == [("billing", 1)]
    olga = next(a for a in roster() if a.name == "Olga Petrova")
    assert staff.team_online("ag_olga") == [(None, 1)]  # of every team: Sam is online
    assert olga.teams == []


def test_offers_open_once_and_end_when_answered_or_taken() -> None:
    model = _model()
    grace = next(i for i in queue_items() if i.conversation_id == "c_grace")
    offer = SOffer(item=grace, expires_at=NOW + timedelta(seconds=20), timeout_seconds=30)
    assert model.desk_changed(offer) is offer
    assert model.desk_changed(offer) is None  # the same offer again is no news
    assert model.staff.seconds_left(offer, NOW) == 20
    assert model.staff.seconds_left(offer, NOW + timedelta(seconds=60)) == 0
    model.desk_changed(SOfferEnded(conversation_id="c_grace", reason="expired"))
    assert model.staff.first_offer() is None
    model.desk_changed(offer)
    model.apply_queue_item(grace.model_copy(update={"status": "assigned"}))
    assert model.staff.offers == {}  # someone took it


def test_the_agents_teams_come_first_and_the_team_filter_shows_them() -> None:
    model = _model()
    assert model.queue.my_teams == frozenset({"billing"})
    teams = [i.team for i in model.queue.view]
    assert teams[:2] == ["billing", "billing"] and "billing" not in teams[2:]
    model.queue.set_filter(QueueFilter.TEAM)
    assert {i.conversation_id for i in model.queue.view} == {"c_grace", "c_dennis"}


def test_transcript_says_who_transferred_to_whom_and_keeps_markup_as_text() -> None:
    from handoff_server.protocol import parse_event
    from handoff_tui.widgets.transcript import event_content

    def line(kind: str, actor: str, **data) -> str:
        event = parse_event(
            {
                "conversation_id": "c",
                "seq": 1,
                "kind": kind,
                "at": NOW,
                "actor": actor,
                "data": data,
            }
        )
        content, css = event_content(event, "Ada")
        assert css == "-system"
        return content.plain

    sam = SAM.model_dump()
    kim = {"id": "ag_kim", "name": "Kim [b]Okafor[/b]", "role": "agent"}
    assert line("transferred", "agent", agent=sam, to_agent=kim, note="VIP [red]x[/red]").endswith(
        "transferred by Sam Rivera to Kim [b]Okafor[/b]: VIP [red]x[/red] ──"
    )
    assert "transferred by Sam Rivera to team security ──" in line(
        "transferred", "agent", agent=sam, to_team="security"
    )
    text = "Sam Rivera was disconnected past the grace period; back in the queue in its place."
    assert text in line("requeued", "system", agent=sam, reason="agent_disconnected", text=text)
