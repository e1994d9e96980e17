"""/api-keys: credentials for integrations and scripts (admins only)."""

from flask import current_app, url_for
from flask.views import MethodView

from ..auth import Permission, current_actor, requires
from ..db import db
from ..idempotency import idempotent
from ..schemas.api_key import (
    ApiKeyCreatedSchema,
    ApiKeyCreateSchema,
    ApiKeyQuerySchema,
    ApiKeySchema,
)
from ..schemas.common import envelope
from ..services import api_keys as service
from .common import Blueprint, documents_errors, ok, page

blp = Blueprint("api_keys", __name__, url_prefix="/api-keys", description="API keys")


@blp.route("")
class ApiKeys(MethodView):
    @requires(Permission.MANAGE_API_KEYS)
    @blp.arguments(ApiKeyQuerySchema, location="query", unknown="raise")
    @blp.response(200, envelope(ApiKeySchema, "ApiKey"))
    @documents_errors(blp, 503)
    def get(self, args):
        """List API keys

        Without their secrets; revoked keys only with `include_revoked=true`.
        """
        records, pagination = service.list_keys(db.session, args)
        return page("API keys have been fetched.", records, pagination)

    @requires(Permission.MANAGE_API_KEYS)
    @idempotent
    @blp.arguments(ApiKeyCreateSchema)
    @blp.response(201, envelope(ApiKeyCreatedSchema))
    @documents_errors(blp, 400, 413, 503)
    def post(self, data):
        """Create an API key

        The answer holds the secret; it is stored only as a hash and never shown again.
        """
        key, secret = service.create_key(db.session, data, current_actor())
        db.session.commit()
        body = {name: getattr(key, name) for name in ApiKeySchema._declared_fields}
        body["secret"] = secret
        location = url_for("api_keys.ApiKeyById", key_id=key.id, _external=True)
        return ok("API key has been created.", body), {"Location": location,
                                                       "Cache-Control": "no-store"}


@blp.route("/<key_id>")
class ApiKeyById(MethodView):
    @requires(Permission.MANAGE_API_KEYS)
    @blp.response(200, envelope(ApiKeySchema))
    @documents_errors(blp, 404, 503)
    def get(self, key_id):
        """Get an API key (without its secret)"""
        return ok("API key has been fetched.", service.get_key(db.session, key_id))

    @requires(Permission.MANAGE_API_KEYS)
    @blp.response(200, envelope(ApiKeySchema))
    @documents_errors(blp, 404, 503)
    def delete(self, key_id):
        """Revoke an API key

        At once in this process; other processes stop accepting it within
        AUTH_CACHE_SECONDS (30 s at most).
        """
        key = service.revoke_key(db.session, key_id)
        db.session.commit()
        current_app.extensions["auth"].forget()
        return ok("API key has been revoked.", key)
