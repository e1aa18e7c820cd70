"""The OpenAPI document of `connector serve`, built here and kept in the repo as docs/openapi.json.

`python -m connector.web > docs/openapi.json` writes it again after a change.
"""

from __future__ import annotations

import json
from typing import Any

from connector import __version__

EVENT_TYPES = ["customer.created", "customer.updated", "customer.deleted"]


def _json(description: str, schema: str) -> dict[str, Any]:
    """A JSON response whose body is the named component schema."""
    body = {"schema": {"$ref": f"#/components/schemas/{schema}"}}
    return {"description": description, "content": {"application/json": body}}


def _error(description: str) -> dict[str, Any]:
    return _json(description, "Error")


_PEER = {
    "type": "object",
    "description": "What the last run learned of the peer; ok is null before the first run.",
    "required": ["ok", "at", "error"],
    "properties": {
        "ok": {"type": "boolean", "nullable": True},
        "at": {"type": "string", "nullable": True},
        "error": {"type": "string", "nullable": True},
    },
    "additionalProperties": False,
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A stable code, e.g. signature_mismatch"},
            "message": {"type": "string", "description": "What is wrong, for a person"},
        },
        "additionalProperties": False,
    },
    "WebhookEvent": {
        "type": "object",
        "required": ["event_id", "type", "customer_id"],
        "properties": {
            "event_id": {
                "type": "string",
                "pattern": "^[A-Za-z0-9._:-]{1,128}$",
                "description": "Unique per event; a second delivery of the same id does nothing",
            },
            "type": {"type": "string", "enum": EVENT_TYPES},
            "customer_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
        },
    },
    "EventAnswer": {
        "type": "object",
        "required": ["status", "event_id"],
        "properties": {
            "status": {"type": "string", "enum": ["accepted", "duplicate"]},
            "event_id": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "PlatformEventAnswer": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {
                "type": "string",
                "enum": ["accepted", "duplicate", "ok"],
                "description": "ok: a ping, or an event that names no customer; nothing stored",
            },
            "event_id": {"type": "string", "description": "The id the event is stored under (deduplication)"},
        },
        "additionalProperties": False,
    },
    "TriggerAnswer": {
        "type": "object",
        "required": ["status", "run_id"],
        "properties": {"status": {"type": "string", "enum": ["queued"]}, "run_id": {"type": "string"}},
        "additionalProperties": False,
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
        "additionalProperties": False,
    },
    "Readiness": {
        "type": "object",
        "required": ["ready", "store", "worker", "pohoda", "eshop"],
        "properties": {
            "ready": {"type": "boolean"},
            "store": {
                "type": "object",
                "required": ["ok"],
                "properties": {"ok": {"type": "boolean"}},
                "additionalProperties": False,
            },
            "worker": {
                "type": "object",
                "required": ["running"],
                "properties": {"running": {"type": "boolean"}},
                "additionalProperties": False,
            },
            "pohoda": _PEER,
            "eshop": _PEER,
        },
        "additionalProperties": False,
    },
    "Status": {
        "type": "object",
        "description": "What `connector status --json` prints, plus the webhook events by state.",
        "required": [
            "last_run",
            "pending_customers",
            "oldest_pending_age_s",
            "pending",
            "refused",
            "in_review",
            "conflicts_recorded",
            "cursors",
            "webhook_events",
        ],
        "properties": {
            "last_run": {
                "type": "object",
                "nullable": True,
                "required": ["id", "kind", "started_at", "state"],
                "properties": {
                    "id": {"type": "string"},
                    "kind": {"type": "string"},
                    "started_at": {"type": "string"},
                    "finished_at": {"type": "string", "nullable": True},
                    "state": {"type": "string"},
                    "summary": {"type": "object", "nullable": True},
                },
            },
            "pending_customers": {"type": "integer", "minimum": 0},
            "oldest_pending_age_s": {"type": "integer", "nullable": True},
            "pending": {"type": "integer", "minimum": 0},
            "refused": {"type": "integer", "minimum": 0},
            "in_review": {"type": "integer", "minimum": 0},
            "conflicts_recorded": {"type": "integer", "minimum": 0},
            "cursors": {"type": "object", "additionalProperties": {"type": "string"}},
            "webhook_events": {
                "type": "object",
                "description": "Stored events by state: received, processed, failed",
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
        },
        "additionalProperties": False,
    },
}

SIGNATURE_DOC = (
    '`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with one of the secrets in '
    "CONNECTOR_WEBHOOK_SECRETS; t within 300 s of the server's clock. See docs/eshop-protocol.md, Webhooks."
)


def _platform_hook(
    operation_id: str, summary: str, header: str, signature: str, content: dict[str, Any]
) -> dict[str, Any]:
    """A platform's own webhook: its signature header, its body, the same answers."""
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "description": (
                "Verified, stored (deduplicated), then answered; the worker syncs the customer. Taken only "
                "when [eshop] platform names this platform (else 404). Body at most 64 KiB."
            ),
            "parameters": [
                {
                    "name": header,
                    "in": "header",
                    "required": False,
                    "description": signature,
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {"required": True, "content": content},
            "responses": {
                "200": _json(
                    "A ping, a repeat of a stored event, or an event naming no customer", "PlatformEventAnswer"
                ),
                "202": _json("Stored; the worker syncs the customer shortly", "PlatformEventAnswer"),
                "400": _error("Malformed Content-Length or JSON"),
                "401": _error("Signature missing or wrong: nothing stored"),
                "404": _error("[eshop] platform is another platform"),
                "408": _error("The body was not received in time"),
                "413": _error("The body is larger than the limit"),
                "422": _error("The event names no customer, or its type is unknown"),
                "503": _error("The store could not take the event, or too many bodies are being received"),
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    """The document as a dict (served at /openapi.json)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "connector serve",
            "version": __version__,
            "description": "Webhooks from the e-shop, a trigger for a full sync run, health, metrics and status.",
        },
        "paths": {
            "/webhooks/eshop": {
                "post": {
                    "operationId": "receiveEshopEvent",
                    "summary": "A customer was created, updated or deleted on the e-shop",
                    "description": (
                        "Verified, stored, then answered: 202 means the event is stored and will be synced; "
                        "200 means its event_id was seen before and nothing was done. Body at most 64 KiB."
                    ),
                    "parameters": [
                        {
                            "name": "X-Connector-Signature",
                            "in": "header",
                            "required": True,
                            "description": SIGNATURE_DOC,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookEvent"}}},
                    },
                    "responses": {
                        "200": _json("A replay: this event_id was stored before; nothing done", "EventAnswer"),
                        "202": _json("Stored; the worker syncs the customer shortly", "EventAnswer"),
                        "400": _error("Malformed signature header, Content-Length or JSON"),
                        "401": _error("Signature missing, wrong, or its timestamp outside the tolerance"),
                        "413": _error("The body is larger than the limit"),
                        "415": _error("The body is not sent as application/json"),
                        "422": _error("A field is missing or invalid, or the event type is unknown"),
                        "503": _error("The store could not take the event; send it again later"),
                    },
                }
            },
            "/webhooks/woocommerce": _platform_hook(
                "receiveWooCommerceWebhook",
                "WooCommerce's customer.created, customer.updated or customer.deleted webhook",
                "X-WC-Webhook-Signature",
                "base64 of HMAC-SHA256 of the raw body, keyed with one of CONNECTOR_WEBHOOK_SECRETS (the "
                "webhook's secret in WooCommerce). X-WC-Webhook-Topic names the event. The unsigned "
                "form-encoded creation ping `webhook_id=N` is answered 200 and stores nothing.",
                {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "description": 'The customer (GET /wc/v3/customers/{id}); a deletion sends {"id": N}',
                        }
                    },
                    "application/x-www-form-urlencoded": {
                        "schema": {"type": "object", "properties": {"webhook_id": {"type": "string"}}}
                    },
                },
            ),
            "/webhooks/shoptet": _platform_hook(
                "receiveShoptetWebhook",
                "Shoptet's customer:create, customer:update or customer:delete webhook",
                "Shoptet-Webhook-Signature",
                "hex of HMAC-SHA1 of the raw body, keyed with one of CONNECTOR_WEBHOOK_SECRETS (the shop's "
                "webhook signature key). The body names only the customer's guid; the worker fetches it.",
                {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["eshopId", "event", "eventCreated", "eventInstance"],
                            "properties": {
                                "eshopId": {"type": "integer"},
                                "event": {"type": "string"},
                                "eventCreated": {"type": "string"},
                                "eventInstance": {"type": "string", "description": "The customer's guid"},
                            },
                        }
                    }
                },
            ),
            "/trigger/sync": {
                "post": {
                    "operationId": "triggerSync",
                    "summary": "Queue a full sync run (as cron's `connector sync`)",
                    "security": [{"adminToken": []}],
                    "responses": {
                        "202": _json("Queued; a run already queued is reused", "TriggerAnswer"),
                        "401": _error("No or a wrong bearer token"),
                        "403": _error("No admin token is configured: the trigger is off"),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "The process is alive",
                    "responses": {"200": _json("Alive", "Health")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readiness",
                    "summary": "Ready to take webhooks: the store answers and the worker runs",
                    "description": "POHODA's and the e-shop's last known state is reported, not required.",
                    "responses": {"200": _json("Ready", "Readiness"), "503": _json("Not ready", "Readiness")},
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics (text exposition format)",
                    "responses": {
                        "200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}
                    },
                }
            },
            "/status": {
                "get": {
                    "operationId": "status",
                    "summary": "The last run and what waits (as `connector status --json`)",
                    "responses": {
                        "200": _json("Status", "Status"),
                        "503": _error("The store could not be read"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The token in CONNECTOR_ADMIN_TOKEN",
                }
            },
        },
    }


def render() -> str:
    """The document as the repo keeps it: indented, keys in order, one newline at the end."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
