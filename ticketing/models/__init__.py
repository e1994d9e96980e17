"""All models, imported so that Base.metadata knows every table."""

from .agent import Agent
from .comment import Comment
from .event import Event
from .ticket import Ticket, TicketPriority, TicketStatus

__all__ = ["Agent", "Comment", "Event", "Ticket", "TicketPriority", "TicketStatus"]
