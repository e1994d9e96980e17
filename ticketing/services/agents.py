"""Agent operations."""

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..auth import Actor, Permission
from ..errors import Forbidden
from ..models import Agent, Ticket
from ..pagination import make_sort, paginate
from ..realtime.outbox import record
from .common import apply_changes, flush, get_or_404

NOT_FOUND = "Agent not found"
OWN_EDITABLE = {"name"}


def get_agent(session: Session, agent_id, *, lock: bool = False) -> Agent:
    return get_or_404(session, Agent, agent_id, NOT_FOUND, lock=lock)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_agents(session: Session, args: dict) -> tuple[list[Agent], dict]:
    stmt = select(Agent)
    if args.get("q"):
        pattern = _like_pattern(args["q"])
        stmt = stmt.where(or_(Agent.name.ilike(pattern), Agent.email.ilike(pattern)))
    return paginate(session, stmt, make_sort(Agent, args["sort"]), args)


def create_agent(session: Session, data: dict, actor: Actor) -> Agent:
    agent = Agent(**data)
    session.add(agent)
    flush(session)
    record(session, "created", "agent", agent, actor=actor)
    return agent


def check_agent_update(actor: Actor, agent: Agent, values: dict) -> None:
    """Admins change anything; an agent may change only its own name."""
    if actor.can(Permission.MANAGE_AGENTS):
        return
    own = actor.agent_id == agent.id and actor.can(Permission.EDIT_OWN_AGENT)
    if not own or set(values) - OWN_EDITABLE:
        raise Forbidden("Not permitted: agents may change only their own name")


def update_agent(session: Session, agent_id, values: dict,
                 actor: Actor) -> tuple[Agent, dict]:
    agent = get_agent(session, agent_id, lock=True)
    check_agent_update(actor, agent, values)
    changes = apply_changes(agent, values)
    if changes:
        flush(session)
        record(session, "updated", "agent", agent, changes, actor=actor)
    return agent, changes


def unassign_tickets(session: Session, agent: Agent,
                     actor: Actor) -> list[tuple[Ticket, dict]]:
    """Unassign the agent's tickets one by one, each change versioned and announced."""
    owned = select(Ticket).where(Ticket.assigned_to == agent.id).order_by(Ticket.id)
    tickets = session.scalars(owned.with_for_update()).all()
    unassigned = [(ticket, apply_changes(ticket, {"assigned_to": None})) for ticket in tickets]
    flush(session)
    for ticket, changes in unassigned:
        record(session, "updated", "ticket", ticket, changes, actor=actor)
    return unassigned


def delete_agent(session: Session, agent_id,
                 actor: Actor) -> tuple[Agent, list[tuple[Ticket, dict]]]:
    agent = get_agent(session, agent_id, lock=True)
    unassigned = unassign_tickets(session, agent, actor)
    session.delete(agent)
    flush(session)
    record(session, "deleted", "agent", agent, actor=actor)
    return agent, unassigned
