"""The OpenAPI 3.1 document of the JSON API (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

from leadcapture.db import MAX_ID

_ERROR = {"$ref": "#/components/schemas/Error"}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_PURPOSE = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$", "example": "newsletter"}
# Which wording the person agreed to: the form, its version and that version's hash.
_AGREED_TO = {"form": {"type": "string"}, "form_version": {"type": "integer"}, "form_version_hash": {"type": "string"}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "The request is malformed; `error` says why.",
        401: "No valid API token.",
        403: "The token does not have the scope this operation needs.",
        413: "The request body is larger than 8 KB.",
    }
    return {str(code): _json(_ERROR, text[code]) for code in codes}


def document(base_url: str) -> dict[str, Any]:
    """The API description, with this deployment's server URL."""
    nullable_string = {"type": ["string", "null"]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "leadcapture API",
            "version": "1",
            "description": "Ask whether a person may be contacted for a purpose, and list the people who may. "
            "Authenticate with `Authorization: Bearer <token>`; admins create tokens under Admin → API tokens.",
        },
        "servers": [{"url": f"{base_url}/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/may-contact": {
                "post": {
                    "operationId": "mayContact",
                    "summary": "May we contact this address for this purpose now?",
                    "description": "Needs a token with the scope `may-contact:read`.",
                    "security": [{"bearer": ["may-contact:read"]}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MayContactQuery"}}},
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/MayContactAnswer"}, "The answer."),
                        **_errors(400, 401, 403, 413),
                    },
                }
            },
            "/contacts": {
                "get": {
                    "operationId": "listContacts",
                    "summary": "People with a current consent for a purpose and channel, a page at a time.",
                    "description": "Needs a token with the scope `contacts:read`.",
                    "security": [{"bearer": ["contacts:read"]}],
                    "parameters": [
                        {"name": "purpose", "in": "query", "required": True, "schema": _PURPOSE},
                        {
                            "name": "brand",
                            "in": "query",
                            "required": False,
                            "description": "Slug of the brand whose audience to list (left out: every brand).",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "channel",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "enum": ["email", "phone"]},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                        },
                        {
                            "name": "after",
                            "in": "query",
                            "description": "`next_after` of the previous page.",
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID, "default": 0},
                        },
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/ContactPage"}, "One page of contacts."),
                        **_errors(400, 401, 403),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from Admin → API tokens. Each token holds scopes: "
                    "`may-contact:read` (POST /may-contact) and `contacts:read` (GET /contacts).",
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "status"],
                    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                },
                "MayContactQuery": {
                    "type": "object",
                    "required": ["email", "purpose"],
                    "properties": {
                        "email": {"type": "string", "format": "email"},
                        "purpose": _PURPOSE,
                        "channel": {"type": "string", "enum": ["email", "phone"]},
                        "brand": {
                            "type": "string",
                            "description": "Slug of the brand whose audience to ask about (left out: any brand).",
                        },
                    },
                },
                "MayContactAnswer": {
                    "type": "object",
                    "required": ["email", "purpose", "may_contact", "state"],
                    "properties": {
                        "email": {"type": "string"},
                        "purpose": {"type": "string"},
                        "may_contact": {"type": "boolean"},
                        "state": {
                            "type": "string",
                            "enum": ["none", "pending", "confirmed", "withdrawn", "expired", "suppressed"],
                        },
                        "channel": {"type": "string"},
                        "brand": {"type": "string", "description": "Slug of the brand the consent was given to."},
                        "confirmed_at": _TIME,
                        "withdrawn_at": _TIME,
                        **_AGREED_TO,
                    },
                },
                "Contact": {
                    "type": "object",
                    "properties": {
                        "email": {"type": "string"},
                        "name": nullable_string,
                        "company": nullable_string,
                        "phone": nullable_string,
                        "consented_at": _TIME,
                        **_AGREED_TO,
                    },
                },
                "ContactPage": {
                    "type": "object",
                    "properties": {
                        "purpose": {"type": "string"},
                        "channel": {"type": "string"},
                        "contacts": {"type": "array", "items": {"$ref": "#/components/schemas/Contact"}},
                        "next_after": {"type": ["integer", "null"]},
                    },
                },
            },
        },
    }
