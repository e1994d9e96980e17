"""All models, imported so that Base.metadata knows every table."""

from .agent import Agent
from .ticket import Ticket, TicketPriority, TicketStatus

__all__ = ["Agent", "Ticket", "TicketPriority", "TicketStatus"]
