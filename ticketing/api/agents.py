"""/agents: the people who work tickets."""

from flask import url_for
from flask.views import MethodView

from ..auth import Permission, current_actor, requires
from ..db import db
from ..schemas.agent import AgentCreateSchema, AgentQuerySchema, AgentSchema, AgentUpdateSchema
from ..schemas.common import MessageEnvelopeSchema, envelope
from ..services import agents as service
from .common import Blueprint, documents_errors, ok, page

blp = Blueprint("agents", __name__, url_prefix="/agents", description="Support agents")


@blp.route("")
class Agents(MethodView):
    @requires(Permission.READ)
    @blp.arguments(AgentQuerySchema, location="query", unknown="raise")
    @blp.response(200, envelope(AgentSchema, "Agent"))
    @documents_errors(blp, 503)
    def get(self, args):
        """List agents"""
        records, pagination = service.list_agents(db.session, args)
        return page("Agents have been fetched.", records, pagination)

    @requires(Permission.MANAGE_AGENTS)
    @blp.arguments(AgentCreateSchema)
    @blp.response(201, envelope(AgentSchema))
    @documents_errors(blp, 400, 409, 413, 503)
    def post(self, data):
        """Create an agent"""
        agent = service.create_agent(db.session, data, current_actor())
        db.session.commit()
        location = url_for("agents.AgentById", agent_id=agent.id, _external=True)
        return ok("Agent has been created.", agent), {"Location": location}


@blp.route("/<agent_id>")
class AgentById(MethodView):
    @requires(Permission.READ)
    @blp.response(200, envelope(AgentSchema))
    @documents_errors(blp, 404, 503)
    def get(self, agent_id):
        """Get an agent"""
        return ok("Agent has been fetched.", service.get_agent(db.session, agent_id))

    @requires(Permission.EDIT_OWN_AGENT)
    @blp.arguments(AgentUpdateSchema)
    @blp.response(200, envelope(AgentSchema))
    @documents_errors(blp, 400, 404, 409, 413, 503)
    def patch(self, values, agent_id):
        """Update an agent

        Admins change any field; an agent may change only its own name.
        """
        agent, _changes = service.update_agent(db.session, agent_id, values, current_actor())
        db.session.commit()
        return ok("Agent has been updated.", agent)

    @requires(Permission.MANAGE_AGENTS)
    @blp.response(200, MessageEnvelopeSchema)
    @documents_errors(blp, 404, 503)
    def delete(self, agent_id):
        """Delete an agent

        The agent's tickets stay, unassigned.
        """
        service.delete_agent(db.session, agent_id, current_actor())
        db.session.commit()
        return ok("Agent has been deleted.")
