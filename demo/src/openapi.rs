//! `GET /openapi.json`: the demo's own OpenAPI 3.1 description, so
//! `gander import openapi` can be shown on it. Written by hand; a test checks
//! that it describes exactly the routes the router serves.

use std::sync::OnceLock;

use axum::Json;
use serde_json::{Value, json};

use super::db::{CATEGORIES, STATUSES};

pub async fn serve() -> Json<Value> {
    static DOC: OnceLock<Value> = OnceLock::new();
    Json(DOC.get_or_init(document).clone())
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn id_param(what: &str, example: i64) -> Value {
    json!({
        "name": "id", "in": "path", "required": true,
        "description": format!("The {what}'s id."),
        "schema": { "type": "integer", "minimum": 1 },
        "example": example
    })
}

fn page_param() -> Value {
    json!({
        "name": "page", "in": "query", "required": false,
        "schema": { "type": "integer", "minimum": 1, "default": 1 }, "example": 1
    })
}

/// The document.
pub fn document() -> Value {
    let session = json!([{ "sessionToken": [] }]);
    let admin = json!([{ "adminToken": [] }]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "gander demo",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The bundled system under test of gander: a salon CRM (seeds 000, 003), a homework-bot webhook (002), a cached quiz API (001) and health and metrics endpoints (004), over SQLite."
        },
        "paths": {
            "/api/login": { "post": {
                "operationId": "login",
                "summary": "Log in as a staff member",
                "description": "Staff accounts are staff1/pass1 to staff50/pass50. Every login creates a new session token.",
                "security": [],
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Login" },
                    "example": { "username": "staff1", "password": "pass1" }
                }}},
                "responses": {
                    "200": json_response("A new session token", json!({ "$ref": "#/components/schemas/Session" })),
                    "401": error_response("Wrong username or password"),
                    "422": error_response("The body is not a login")
                }
            }},
            "/api/bookings": {
                "get": {
                    "operationId": "listBookings",
                    "summary": "List bookings, newest first",
                    "security": session,
                    "parameters": [
                        { "name": "status", "in": "query", "schema": { "type": "string", "enum": STATUSES }, "example": "confirmed" },
                        { "name": "master", "in": "query", "description": "A master's id (1 to 24).", "schema": { "type": "integer", "minimum": 1 } },
                        { "name": "date", "in": "query", "schema": { "type": "string", "format": "date" } },
                        { "name": "q", "in": "query", "description": "Search clients' and services' names.", "schema": { "type": "string" } },
                        page_param(),
                        { "name": "per_page", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 20 } }
                    ],
                    "responses": {
                        "200": json_response("A page of bookings", json!({ "$ref": "#/components/schemas/BookingPage" })),
                        "400": error_response("An unknown status or a malformed parameter"),
                        "401": error_response("No session token, or an unknown one")
                    }
                },
                "post": {
                    "operationId": "createBooking",
                    "summary": "Create a pending booking",
                    "security": session,
                    "requestBody": { "required": true, "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/NewBooking" },
                        "example": { "client_id": 1, "master_id": 1, "service_id": 1, "date": "2026-07-01", "time": "12:30" }
                    }}},
                    "responses": {
                        "201": json_response("The new booking", json!({
                            "type": "object", "required": ["id", "status"],
                            "properties": { "id": { "type": "integer" }, "status": { "type": "string", "const": "pending" } }
                        })),
                        "400": error_response("The date is not YYYY-MM-DD"),
                        "401": error_response("No session token, or an unknown one"),
                        "422": error_response("An unknown client, master or service")
                    }
                }
            },
            "/api/bookings/{id}": { "get": {
                "operationId": "getBooking",
                "summary": "One booking",
                "security": session,
                "parameters": [ id_param("booking", 1) ],
                "responses": {
                    "200": json_response("The booking", json!({ "$ref": "#/components/schemas/Booking" })),
                    "400": error_response("The id is not a number"),
                    "401": error_response("No session token, or an unknown one"),
                    "404": error_response("No such booking")
                }
            }},
            "/api/stats": { "get": {
                "operationId": "getStats",
                "summary": "Bookings by status, and the number of clients",
                "security": session,
                "responses": {
                    "200": json_response("The figures", json!({
                        "type": "object", "required": ["bookings", "clients"],
                        "properties": {
                            "bookings": { "type": "object", "additionalProperties": { "type": "integer" } },
                            "clients": { "type": "integer" }
                        }
                    })),
                    "401": error_response("No session token, or an unknown one")
                }
            }},
            "/bot/webhook": { "post": {
                "operationId": "botWebhook",
                "summary": "A Telegram update for the homework bot",
                "description": "/start registers the student, /homework lists their last homework, any other text is saved as homework.",
                "security": [],
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Update" },
                    "example": { "update_id": 1, "message": { "message_id": 1, "from": { "id": 1, "first_name": "Student" }, "chat": { "id": 1 }, "text": "/start" } }
                }}},
                "responses": {
                    "200": json_response("The bot's answer (a Bot API sendMessage call)", json!({
                        "type": "object",
                        "properties": { "method": { "type": "string" }, "chat_id": { "type": "integer" }, "text": { "type": "string" } }
                    })),
                    "400": error_response("A message without a sender"),
                    "422": error_response("The body is not an update")
                }
            }},
            "/api/quiz/questions": { "get": {
                "operationId": "listQuizQuestions",
                "summary": "Ten questions of a category",
                "security": [],
                "parameters": [
                    { "name": "category", "in": "query", "schema": { "type": "string", "enum": CATEGORIES, "default": "math" }, "example": "math" },
                    page_param()
                ],
                "responses": {
                    "200": json_response("A page of questions", json!({
                        "type": "object", "required": ["category", "page", "items"],
                        "properties": {
                            "category": { "type": "string" },
                            "page": { "type": "integer" },
                            "items": { "type": "array", "items": { "$ref": "#/components/schemas/QuestionSummary" } }
                        }
                    })),
                    "400": error_response("A malformed parameter")
                }
            }},
            "/api/quiz/questions/{id}": { "get": {
                "operationId": "getQuizQuestion",
                "summary": "One question",
                "security": [],
                "parameters": [ id_param("question", 1) ],
                "responses": {
                    "200": json_response("The question", json!({
                        "type": "object", "required": ["id", "category", "text"],
                        "properties": { "id": { "type": "integer" }, "category": { "type": "string" }, "text": { "type": "string" } }
                    })),
                    "400": error_response("The id is not a number"),
                    "404": error_response("No such question")
                }
            }},
            "/api/v1/health/detailed": { "get": {
                "operationId": "healthDetailed",
                "summary": "Health, with the reasons when not healthy",
                "security": [],
                "responses": {
                    "200": json_response("The service's health", json!({
                        "type": "object", "required": ["status"],
                        "properties": {
                            "status": { "type": "string", "enum": ["healthy", "degraded", "error"] },
                            "issues": { "type": "array", "items": { "type": "string" } },
                            "metrics": { "type": "object" }
                        }
                    }))
                }
            }},
            "/api/v1/admin/metrics": { "get": {
                "operationId": "adminMetrics",
                "summary": "CPU, memory, request rates and slow endpoints (seed 004's metrics API)",
                "security": admin,
                "responses": {
                    "200": json_response("The figures", json!({ "type": "object" })),
                    "401": error_response("No admin token")
                }
            }},
            "/api/v1/admin/metrics/reset": { "post": {
                "operationId": "resetAdminMetrics",
                "summary": "Reset the request figures",
                "security": admin,
                "responses": {
                    "200": json_response("Done", json!({ "type": "object", "properties": { "reset": { "type": "boolean" } } })),
                    "401": error_response("No admin token")
                }
            }},
            "/metrics": { "get": {
                "operationId": "prometheusMetrics",
                "summary": "Prometheus metrics: process CPU and memory, request durations by route",
                "security": [],
                "responses": { "200": {
                    "description": "Prometheus text format",
                    "content": { "text/plain": { "schema": { "type": "string" } } }
                }}
            }},
            "/debug/pprof/profile": { "get": {
                "operationId": "cpuProfile",
                "summary": "A CPU profile (pprof-rs, the Go pprof contract)",
                "description": "Blocks for `seconds` while sampling; one profile at a time. An operations endpoint for profilers, not API traffic.",
                "x-internal": true,
                "security": [],
                "parameters": [
                    { "name": "seconds", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 600, "default": 30 }, "example": 1 }
                ],
                "responses": {
                    "200": { "description": "A gzip-compressed profile.proto", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                    "500": { "description": "A profile is already being taken", "content": { "text/plain": { "schema": { "type": "string" } } } }
                }
            }},
            "/openapi.json": { "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": { "200": json_response("OpenAPI 3.1", json!({ "type": "object" })) }
            }}
        },
        "components": {
            "securitySchemes": {
                "sessionToken": {
                    "type": "http", "scheme": "bearer",
                    "description": "The token POST /api/login returns, checked against the sessions table."
                },
                "adminToken": {
                    "type": "http", "scheme": "bearer",
                    "description": "The admin token of the metrics API (gander-demo --admin-token, default demo-admin-token)."
                }
            },
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": { "error": { "type": "string" } }
                },
                "Login": {
                    "type": "object", "required": ["username", "password"],
                    "properties": { "username": { "type": "string" }, "password": { "type": "string", "format": "password" } }
                },
                "Session": {
                    "type": "object", "required": ["token", "token_type"],
                    "properties": { "token": { "type": "string" }, "token_type": { "type": "string", "const": "bearer" } }
                },
                "Booking": {
                    "type": "object",
                    "required": ["id", "date", "time", "status", "client", "master", "service"],
                    "properties": {
                        "id": { "type": "integer" },
                        "date": { "type": "string", "format": "date" },
                        "time": { "type": "string", "examples": ["12:30"] },
                        "status": { "type": "string", "enum": STATUSES },
                        "client": { "type": "string" },
                        "master": { "type": "string" },
                        "service": { "type": "string" }
                    }
                },
                "BookingPage": {
                    "type": "object", "required": ["items", "page", "per_page"],
                    "properties": {
                        "items": { "type": "array", "items": { "$ref": "#/components/schemas/Booking" } },
                        "page": { "type": "integer" },
                        "per_page": { "type": "integer" }
                    }
                },
                "NewBooking": {
                    "type": "object", "required": ["client_id", "master_id", "service_id", "date", "time"],
                    "properties": {
                        "client_id": { "type": "integer", "minimum": 1 },
                        "master_id": { "type": "integer", "minimum": 1 },
                        "service_id": { "type": "integer", "minimum": 1 },
                        "date": { "type": "string", "format": "date" },
                        "time": { "type": "string", "examples": ["12:30"] }
                    }
                },
                "QuestionSummary": {
                    "type": "object", "required": ["id", "text"],
                    "properties": { "id": { "type": "integer" }, "text": { "type": "string" } }
                },
                "Update": {
                    "type": "object", "required": ["update_id"],
                    "properties": {
                        "update_id": { "type": "integer" },
                        "message": {
                            "type": "object", "required": ["chat"],
                            "properties": {
                                "message_id": { "type": "integer" },
                                "from": { "type": "object", "required": ["id"], "properties": { "id": { "type": "integer" }, "first_name": { "type": "string" } } },
                                "chat": { "type": "object", "required": ["id"], "properties": { "id": { "type": "integer" } } },
                                "text": { "type": "string" }
                            }
                        }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the router serves is in the document, with its method, and
    /// the document describes no route the router does not serve.
    #[test]
    fn the_document_describes_exactly_the_served_routes() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let served: Vec<(String, String)> = crate::routes()
            .into_iter()
            .map(|(method, path, _)| (method.to_ascii_lowercase(), path.to_string()))
            .collect();
        for (method, path) in &served {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{} {path} is served but not in /openapi.json",
                method.to_uppercase()
            );
        }
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                assert!(
                    served.contains(&(method.clone(), path.clone())),
                    "{} {path} is in /openapi.json but not served",
                    method.to_uppercase()
                );
            }
        }
        assert_eq!(doc["openapi"], "3.1.0");
    }

    /// Every local $ref points at something.
    #[test]
    fn every_ref_resolves() {
        fn walk(v: &Value, doc: &Value) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        let pointer = r.strip_prefix('#').expect("local refs only");
                        assert!(doc.pointer(pointer).is_some(), "{r} points nowhere");
                    }
                    map.values().for_each(|c| walk(c, doc));
                }
                Value::Array(items) => items.iter().for_each(|c| walk(c, doc)),
                _ => {}
            }
        }
        let doc = document();
        walk(&doc, &doc);
    }
}
