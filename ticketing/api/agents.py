"""/agents: the people who work tickets."""

from flask import url_for
from flask.views import MethodView

from ..auth import Permission, current_actor, requires
from ..db import db
from ..idempotency import idempotent
from ..schemas.agent import AgentCreateSchema, AgentQuerySchema, AgentSchema, AgentUpdateSchema
from ..schemas.common import MessageEnvelopeSchema, envelope
from ..services import agents as service
from .common import Blueprint, documents_errors, ok, page
from .etags import (
    check_if_match,
    documents_conditional_read,
    documents_conditional_write,
    etag_header,
    not_modified,
)

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
    @idempotent
    @blp.arguments(AgentCreateSchema)
    @blp.response(201, envelope(AgentSchema))
    @documents_errors(blp, 400, 409, 413, 503)
    def post(self, data):
        """Create an agent"""
        agent = service.create_agent(db.session, data, current_actor())
        db.session.commit()
        location = url_for("agents.AgentById", agent_id=agent.id, _external=True)
        return ok("Agent has been created.", agent), {"Location": location,
                                                        **etag_header(agent)}


@blp.route("/<agent_id>")
class AgentById(MethodView):
    @requires(Permission.READ)
    @blp.response(200, envelope(AgentSchema))
    @documents_errors(blp, 404, 503)
    @documents_conditional_read(blp)
    def get(self, agent_id):
        """Get an agent"""
        agent = service.get_agent(db.session, agent_id)
        return not_modified(agent) or (ok("Agent has been fetched.", agent),
                                       etag_header(agent))

    @requires(Permission.EDIT_OWN_AGENT)
    @blp.arguments(AgentUpdateSchema)
    @blp.response(200, envelope(AgentSchema))
    @documents_errors(blp, 400, 404, 409, 413, 503)
    @documents_conditional_write(blp)
    def patch(self, values, agent_id):
        """Update an agent

        Admins change any field; an agent may change only its own name.
        """
        check_if_match(service.get_agent(db.session, agent_id, lock=True), "Agent")
        agent, _changes = service.update_agent(db.session, agent_id, values, current_actor())
        db.session.commit()
        return ok("Agent has been updated.", agent), etag_header(agent)

    @requires(Permission.MANAGE_AGENTS)
    @blp.response(200, MessageEnvelopeSchema)
    @documents_errors(blp, 404, 503)
    @documents_conditional_write(blp, returns_etag=False)
    def delete(self, agent_id):
        """Delete an agent

        The agent's tickets stay, unassigned.
        """
        check_if_match(service.get_agent(db.session, agent_id, lock=True), "Agent")
        service.delete_agent(db.session, agent_id, current_actor())
        db.session.commit()
        return ok("Agent has been deleted.")
