"""All models, imported so that Base.metadata knows every table."""

from ..idempotency.model import IdempotencyKey
from .agent import Agent
from .event import Event
from .ticket import Ticket, TicketPriority, TicketStatus

__all__ = ["Agent", "Event", "IdempotencyKey", "Ticket", "TicketPriority", "TicketStatus"]
