use serde_json::{Value, json};

use super::super::{Input, Origin, self_check};
use super::*;

fn input(doc: &Value) -> Input {
    Input {
        origin: Origin::Url(url::Url::parse("http://127.0.0.1:9999/openapi.json").unwrap()),
        text: serde_json::to_string_pretty(doc).unwrap(),
    }
}

fn generate(doc: Value, include_writes: bool) -> Generated {
    let g = import(input(&doc), &OpenApiOptions { include_writes }).unwrap();
    self_check(&g.yaml).unwrap_or_else(|e| panic!("{e}\n{}", g.yaml));
    g
}

/// The plan gander would run, from the generated text.
fn plan(yaml: &str) -> crate::scenario::RunPlan {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.yaml");
    std::fs::write(&path, yaml).unwrap();
    crate::scenario::load(&path, &Default::default()).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn fastapi_like() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Pantry API", "version": "1.0.0" },
        "paths": {
            "/token": { "post": {
                "operationId": "login_token_post",
                "requestBody": { "required": true, "content": { "application/x-www-form-urlencoded": {
                    "schema": { "$ref": "#/components/schemas/Body_login" } } } },
                "responses": { "200": { "description": "ok", "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Token" } } } } }
            }},
            "/items/{item_id}": { "get": {
                "operationId": "get_item",
                "security": [{ "OAuth2PasswordBearer": [] }],
                "parameters": [{ "name": "item_id", "in": "path", "required": true, "schema": { "type": "integer" } }],
                "responses": { "200": { "description": "ok" } }
            }},
            "/items": {
                "get": {
                    "operationId": "list_items",
                    "security": [{ "OAuth2PasswordBearer": [] }],
                    "parameters": [
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "default": 10 } },
                        { "name": "q", "in": "query", "required": true, "schema": { "type": "string", "minLength": 2 } }
                    ],
                    "responses": { "200": { "description": "ok", "content": { "application/json": {
                        "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Item" } } } } } }
                },
                "post": {
                    "operationId": "create_item",
                    "security": [{ "OAuth2PasswordBearer": [] }],
                    "requestBody": { "required": true, "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/NewItem" } } } },
                    "responses": { "201": { "description": "created" }, "422": { "description": "invalid" } }
                }
            },
            "/orders": { "get": {
                "operationId": "list_orders",
                "security": [{ "OAuth2PasswordBearer": [] }],
                "responses": { "200": { "description": "ok", "content": { "application/json": {
                    "schema": { "type": "object", "properties": {
                        "total": { "type": "integer" },
                        "results": { "type": "array", "items": { "type": "object", "properties": {
                            "order_id": { "type": "integer" }, "item_id": { "type": "integer" } } } }
                    } } } } } }
            }},
            "/orders/{order_id}": { "get": {
                "operationId": "get_order",
                "security": [{ "OAuth2PasswordBearer": [] }],
                "parameters": [{ "name": "order_id", "in": "path", "required": true, "schema": { "type": "integer" } }],
                "responses": { "200": { "description": "ok" } }
            }},
            "/health": { "get": { "operationId": "health", "responses": { "200": { "description": "ok" } } } }
        },
        "components": {
            "schemas": {
                "Body_login": { "type": "object", "required": ["username", "password"], "properties": {
                    "grant_type": { "anyOf": [{ "type": "string", "pattern": "^password$" }, { "type": "null" }] },
                    "username": { "type": "string" }, "password": { "type": "string", "format": "password" } } },
                "Token": { "type": "object", "properties": { "access_token": { "type": "string" }, "token_type": { "type": "string" } } },
                "Item": { "type": "object", "properties": { "id": { "type": "integer" }, "name": { "type": "string" } } },
                "NewItem": { "type": "object", "required": ["name", "price"], "properties": {
                    "name": { "type": "string", "minLength": 1 }, "price": { "type": "number", "exclusiveMinimum": 0 } } }
            },
            "securitySchemes": {
                "OAuth2PasswordBearer": { "type": "oauth2", "flows": { "password": { "scopes": {}, "tokenUrl": "token" } } }
            }
        }
    })
}

#[test]
fn a_fastapi_document_becomes_a_login_lists_and_captured_details() {
    let g = generate(fastapi_like(), false);
    let y = &g.yaml;
    // The OAuth2 password flow is the login, once per user.
    let on_start = y.find("on_start:").expect(y);
    let steps = y.find("    steps:").expect(y);
    assert!(on_start < steps, "{y}");
    let login = &y[on_start..steps];
    assert!(login.contains("post: \"/token\""), "{login}");
    assert!(login.contains("grant_type: \"password\""), "{login}");
    assert!(login.contains("username: \"${username}\""), "{login}");
    assert!(
        login.contains("token: { json: \"/access_token\" }"),
        "{login}"
    );
    assert!(y.contains("username: \"${env.API_USERNAME:-user}\""), "{y}");
    assert!(
        g.todo.iter().any(|t| t.contains("API_PASSWORD")),
        "{:?}",
        g.todo
    );
    // List -> detail: an array at the root, and an array under "results".
    assert!(y.contains("item_id: { json: \"/0/id\" }"), "{y}");
    assert!(y.contains("get: \"/items/${item_id}\""), "{y}");
    assert!(
        y.contains("order_id: { json: \"/results/0/order_id\" }"),
        "{y}"
    );
    assert!(y.contains("get: \"/orders/${order_id}\""), "{y}");
    // The list comes before the detail although the document lists it after.
    assert!(y.find("name: \"list_items\"").unwrap() < y.find("name: \"get_item\"").unwrap());
    // Bearer token where the security requirement asks, not on /health.
    let bearer = y
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter(|l| l.contains("Authorization: \"Bearer ${token}\""))
        .count();
    assert_eq!(bearer, 4, "{y}");
    // A required query parameter is made up (and said so); an optional one without example is left out.
    assert!(y.contains("get: \"/items?q=example\""), "{y}");
    assert!(y.contains("q: guess:"), "{y}");
    assert!(
        y.contains("optional query parameters left out: limit"),
        "{y}"
    );
    // Writes are left out, written commented out.
    assert!(y.contains("# - name: \"create_item\""), "{y}");
    assert!(!y.contains("\n      - name: \"create_item\""), "{y}");
    assert!(y.contains("host: \"http://127.0.0.1:9999\""), "{y}");

    let p = plan(y);
    assert_eq!(p.scenarios[0].on_start.len(), 1);
    assert_eq!(p.scenarios[0].steps.len(), 5);
}

#[test]
fn include_writes_sends_a_minimal_valid_body() {
    let g = generate(fastapi_like(), true);
    let y = &g.yaml;
    assert!(y.contains("\n      - name: \"create_item\""), "{y}");
    assert!(y.contains("name: \"example\""), "{y}");
    assert!(y.contains("price: 1.0"), "{y}");
    assert!(y.contains("expect: { status: 201 }"), "{y}");
}

/// A salon API: a login operation handing out a JWT, a list and detail
/// route, and schemes met from the environment.
fn salon() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Salon", "version": "1" },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "session": [] }],
        "paths": {
            "/auth/login": { "post": {
                "operationId": "login",
                "security": [],
                "requestBody": { "content": { "application/json": {
                    "schema": { "type": "object", "required": ["email", "password"],
                                "properties": { "email": { "type": "string", "format": "email" }, "password": { "type": "string" } } },
                    "example": { "email": "ann@example.com", "password": "s3cret" } } } },
                "responses": { "200": { "description": "ok", "content": { "application/json": {
                    "schema": { "type": "object", "properties": { "data": { "type": "object", "properties": { "jwt": { "type": "string" } } } } } } } } }
            }},
            "/bookings": { "get": {
                "operationId": "bookings",
                "responses": { "200": { "description": "ok", "content": { "application/json": {
                    "schema": { "type": "object", "properties": { "data": { "type": "object", "properties": {
                        "bookings": { "type": "array", "items": { "type": "object", "properties": { "uuid": { "type": "string" } } } } } } } } } } } }
            }},
            "/bookings/{uuid}": { "get": {
                "operationId": "booking",
                "parameters": [{ "name": "uuid", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "responses": { "200": { "description": "ok" } }
            }},
            "/admin/stats": { "get": {
                "operationId": "stats",
                "security": [{ "apiKey": [] }],
                "responses": { "200": { "description": "ok" } }
            }},
            "/export": { "get": {
                "operationId": "export",
                "security": [{ "keyInQuery": [] }],
                "responses": { "200": { "description": "ok" } }
            }}
        },
        "components": { "securitySchemes": {
            "session": { "type": "http", "scheme": "bearer" },
            "apiKey": { "type": "apiKey", "in": "header", "name": "X-Admin-Key" },
            "keyInQuery": { "type": "apiKey", "in": "query", "name": "api_key" }
        } }
    })
}

#[test]
fn a_login_operation_with_a_token_feeds_the_bearer_scheme_others_come_from_env() {
    let doc = salon();
    let mut empty_server = doc.clone();
    empty_server["servers"] = json!([{ "url": "" }]);
    assert!(
        generate(empty_server, false)
            .yaml
            .contains("post: \"/auth/login\"")
    );
    let g = generate(doc, false);
    let y = &g.yaml;
    // The server's base path, taken relative to the document's URL.
    assert!(y.contains("post: \"/api/v1/auth/login\""), "{y}");
    assert!(y.contains("token: { json: \"/data/jwt\" }"), "{y}");
    assert!(y.contains("email: \"${username}\""), "{y}");
    assert!(
        y.contains("username: \"${env.API_USERNAME:-ann@example.com}\""),
        "{y}"
    );
    assert!(
        y.contains("password: \"${env.API_PASSWORD:-s3cret}\""),
        "{y}"
    );
    assert!(
        y.contains("booking_uuid: { json: \"/data/bookings/0/uuid\" }"),
        "{y}"
    );
    assert!(
        y.contains("get: \"/api/v1/bookings/${booking_uuid}\""),
        "{y}"
    );
    assert!(y.contains("X-Admin-Key: \"${api_key}\""), "{y}");
    assert!(y.contains("api_key: \"${env.API_KEY:-}\""), "{y}");
    assert!(
        y.contains("get: \"/api/v1/export?api_key=${key_in_query_key}\""),
        "{y}"
    );
    assert!(
        g.todo.iter().any(|t| t.starts_with("set API_KEY")),
        "{:?}",
        g.todo
    );
    assert!(
        g.todo.iter().all(|t| !t.contains("API_PASSWORD")),
        "{:?}",
        g.todo
    );
}

#[test]
fn values_from_the_document_cannot_break_the_yaml() {
    let nasty = "list: # \"all\" 'items'\nand ${more}";
    let doc = json!({
        "openapi": "3.1.0",
        "info": { "title": nasty, "version": "1" },
        "paths": {
            "/things/{name}": { "get": {
                "operationId": nasty,
                "summary": nasty,
                "parameters": [
                    { "name": "name", "in": "path", "required": true, "schema": { "type": "string" }, "example": nasty },
                    { "name": "filter", "in": "query", "schema": { "type": "string" }, "example": nasty },
                    { "name": "X-Note", "in": "header", "required": true, "schema": { "type": "string", "example": nasty } }
                ],
                "responses": { "200": { "description": nasty } }
            }},
            "/things": { "post": {
                "operationId": "create",
                "requestBody": { "content": { "application/json": { "example": { nasty: nasty, "n": [1, { "k": nasty }] } } } },
                "responses": { "201": { "description": "ok" } }
            }}
        }
    });
    let g = generate(doc, true);
    let p = plan(&g.yaml);
    assert!(p.endpoints.iter().any(|e| e.name == nasty), "{}", g.yaml);
    assert!(g.yaml.contains(&emit::quote(nasty)), "{}", g.yaml);
    // The literal ${more} stays literal.
    assert!(g.yaml.contains("$${more}"), "{}", g.yaml);
}

#[test]
fn not_openapi_documents_are_refused_with_a_fix() {
    let cases = [
        (
            json!({ "swagger": "2.0", "paths": {} }),
            "Swagger 2.0",
            "swagger2openapi",
        ),
        (
            json!({ "log": { "entries": [] } }),
            "no \"openapi\" version",
            "gander import har",
        ),
        (json!({ "foo": 1 }), "(it has: foo)", "/openapi.json"),
        (
            json!({ "openapi": "2.5", "paths": { "/": {} } }),
            "\"2.5\" is not supported",
            "3.0 and 3.1",
        ),
        (
            json!({ "openapi": "3.0.0", "paths": {} }),
            "no paths",
            "\"paths\"",
        ),
        (json!([1, 2]), "not an object", "openapi.json"),
    ];
    let html = Input {
        origin: Origin::Url(url::Url::parse("http://127.0.0.1:9999/docs").unwrap()),
        text: "<!DOCTYPE html>\n<html><title>Swagger UI</title></html>\n".into(),
    };
    let e = import(html, &OpenApiOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("this is HTML") && e.contains("/openapi.json"),
        "{e}"
    );
    for (doc, message, help) in cases {
        let e = import(input(&doc), &OpenApiOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{doc} was accepted"))
            .to_string();
        assert!(e.starts_with("http://127.0.0.1:9999/openapi.json:"), "{e}");
        assert!(e.contains(": error: "), "{e}");
        assert!(e.contains(message), "{message}: {e}");
        assert!(e.contains(help), "{help}: {e}");
    }
}

#[test]
fn only_writes_without_the_flag_is_an_error_that_names_the_flag() {
    let doc = json!({ "openapi": "3.0.0", "info": { "title": "t", "version": "1" }, "paths": {
        "/hook": { "post": { "responses": { "200": { "description": "ok" } } } } } });
    let e = import(input(&doc), &OpenApiOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--include-writes"), "{e}");
}

#[test]
fn a_yaml_document_with_3_0_bounds_reads_the_same() {
    let text = "openapi: 3.0.3\ninfo: { title: Y, version: '1' }\npaths:\n  /a/{n}:\n    get:\n      operationId: a\n      parameters:\n        - name: n\n          in: path\n          required: true\n          schema: { type: integer, minimum: 5, exclusiveMinimum: true }\n      responses:\n        200: { description: ok }\n";
    let g = import(
        Input {
            origin: Origin::File("api.yaml".into()),
            text: text.into(),
        },
        &OpenApiOptions::default(),
    )
    .unwrap();
    self_check(&g.yaml).unwrap();
    assert!(g.yaml.contains("get: \"/a/6\""), "{}", g.yaml);
    assert!(
        g.yaml.contains("host: \"http://127.0.0.1:8080\""),
        "{}",
        g.yaml
    );
    assert!(
        g.yaml.contains("guess: the document names no servers"),
        "{}",
        g.yaml
    );
    assert!(g.yaml.contains("expect: { status: 200 }"), "{}", g.yaml);
    assert!(g.yaml.contains("name: \"y\""), "{}", g.yaml);
}

/// Every FastAPI app is titled "FastAPI": its scenario is named after where
/// the document came from, so two services do not share a baseline name.
#[test]
fn a_default_title_names_the_scenario_after_the_service() {
    let mut doc = fastapi_like();
    doc["info"]["title"] = json!("FastAPI");
    let name = |doc: &Value, origin: Origin| {
        let g = import(
            Input {
                origin,
                text: doc.to_string(),
            },
            &OpenApiOptions::default(),
        )
        .unwrap();
        plan(&g.yaml).name
    };
    let url = |u: &str| Origin::Url(url::Url::parse(u).unwrap());
    let a = name(&doc, url("http://127.0.0.1:8001/openapi.json"));
    let b = name(&doc, url("http://127.0.0.1:8002/openapi.json"));
    assert_eq!(a, "127-0-0-1-8001");
    assert_ne!(a, b);
    assert_eq!(name(&doc, Origin::File("billing.json".into())), "billing");
    let dir = tempfile::tempdir().unwrap();
    let service = dir.path().join("orders-service");
    std::fs::create_dir(&service).unwrap();
    std::fs::write(service.join("openapi.json"), doc.to_string()).unwrap();
    assert_eq!(
        name(&doc, Origin::File(service.join("openapi.json"))),
        "orders-service"
    );
    // A real title is kept.
    doc["info"]["title"] = json!("Pantry API");
    assert_eq!(
        name(&doc, url("http://127.0.0.1:8001/openapi.json")),
        "pantry-api"
    );
}

/// httpbin documents `type: int`, which OpenAPI does not have: the path
/// parameter still gets a value (never an empty segment that passes the check
/// and 404s), and the comment says it is a guess.
#[test]
fn an_unknown_parameter_type_gets_a_value_not_an_empty_segment() {
    let doc = json!({
        "openapi": "3.0.0",
        "info": { "title": "httpbin", "version": "1" },
        "paths": { "/delay/{delay}": { "get": {
            "parameters": [{ "name": "delay", "in": "path", "required": true, "schema": { "type": "int" } }],
            "responses": { "200": { "description": "ok" } }
        }}, "/bytes/{n}": { "get": {
            "parameters": [{ "name": "n", "in": "path", "required": true, "schema": { "type": "null" } }],
            "responses": { "200": { "description": "ok" } }
        }}}
    });
    let g = generate(doc, false);
    let c = code(&g.yaml);
    assert!(c.contains("get: \"/delay/1\""), "{}", g.yaml);
    assert!(c.contains("get: \"/bytes/1\""), "{}", g.yaml);
    assert!(!c.contains("/delay/\""), "{}", g.yaml);
    assert!(
        g.yaml
            .contains("\"int\" is not an OpenAPI type: taken as an integer (1)"),
        "{}",
        g.yaml
    );
}

/// A large API (30,000 operations) imports into a file that passes its own
/// check: the YAML parser's node budget is scaled to the largest scenario file.
#[test]
fn thirty_thousand_operations_pass_their_own_check() {
    let mut paths = serde_json::Map::new();
    for i in 0..30_000 {
        paths.insert(
            format!("/resources/r{i}"),
            json!({ "get": { "operationId": format!("get_r{i}"),
                              "responses": { "200": { "description": "ok" } } } }),
        );
    }
    let doc =
        json!({ "openapi": "3.1.0", "info": { "title": "Big", "version": "1" }, "paths": paths });
    let g = import(input(&doc), &OpenApiOptions::default()).unwrap();
    let checked = self_check(&g.yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(checked.request_names, 30_000);
}

/// The YAML without comments: what gander reads.
fn code(yaml: &str) -> String {
    yaml.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split("  # ").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Schemas that nest lists with minItems 16 eight deep, objects whose
/// required properties refer to each other, an allOf that names itself ten
/// times and a oneOf that names only itself ask for billions of values or
/// never end: the bodies are kept under the budget and the import ends.
#[test]
fn a_body_whose_schemas_multiply_is_kept_small() {
    let nested = (0..8).fold(
        json!({ "type": "integer" }),
        |inner, _| json!({ "type": "array", "minItems": 16, "items": inner }),
    );
    let mut fan = json!({ "type": "object", "required": [], "properties": {} });
    for i in 0..10 {
        let name = format!("p{i}");
        fan["required"].as_array_mut().unwrap().push(json!(name));
        fan["properties"][&name] = json!({ "$ref": "#/components/schemas/Fan" });
    }
    let doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "t", "version": "1" },
        "paths": {
            "/lists": { "post": { "operationId": "lists",
                "requestBody": { "required": true, "content": { "application/json": { "schema": nested } } },
                "responses": { "200": { "description": "ok" } } } },
            "/self": { "post": { "operationId": "self",
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Self" } } } },
                "responses": { "200": { "description": "ok" } } } },
            "/only": { "post": { "operationId": "only",
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Only" } } } },
                "responses": { "200": { "description": "ok" } } } },
            "/fans": { "post": { "operationId": "fans",
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Fan" } } } },
                "responses": { "200": { "description": "ok" } } } }
        },
        "components": { "schemas": {
            "Fan": fan,
            // allOf naming itself ten times; oneOf naming only itself.
            "Self": { "allOf": [
                { "$ref": "#/components/schemas/Self" }, { "$ref": "#/components/schemas/Self" },
                { "$ref": "#/components/schemas/Self" }, { "$ref": "#/components/schemas/Self" },
                { "$ref": "#/components/schemas/Self" }, { "$ref": "#/components/schemas/Self" },
                { "$ref": "#/components/schemas/Self" }, { "$ref": "#/components/schemas/Self" },
                { "$ref": "#/components/schemas/Self" }, { "$ref": "#/components/schemas/Self" }
            ] },
            "Only": { "oneOf": [{ "$ref": "#/components/schemas/Only" }] }
        } }
    });
    let g = generate(doc, true);
    // Four bodies, each under the budget (a value takes a line of indented
    // YAML), and one comment line each.
    assert!(
        g.yaml.len() < 4 * 40 * sample::MAX_GENERATED_VALUES,
        "{} bytes",
        g.yaml.len()
    );
    assert!(g.yaml.lines().all(|l| l.len() < 4096), "a long line");
    assert!(g.yaml.contains("minItems asks for"), "{}", g.yaml);
}
