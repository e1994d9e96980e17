"""All models, imported so that Base.metadata knows every table."""

from .agent import Agent
from .api_key import ApiKey
from .comment import Comment
from .event import Event
from .idempotency_key import IdempotencyKey
from .search_term import TicketSearchTerm
from .ticket import Ticket, TicketPriority, TicketStatus

__all__ = ["Agent", "ApiKey", "Comment", "Event", "IdempotencyKey", "Ticket", "TicketPriority",
           "TicketSearchTerm", "TicketStatus"]
