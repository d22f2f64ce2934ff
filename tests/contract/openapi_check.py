"""openapi.yaml as a checker of real replies: its operations (path, method,
operationId, the services that serve it from its tags) and, for a reply,
whether its status is documented for the operation and its body valid
against the documented schema.

Schemas are validated by python3-jsonschema (Draft 4, the dialect OpenAPI
3.0's schema objects extend) after a translation of the OpenAPI-only
keywords: `nullable: true` adds "null" to the schema's `type` (and null to
its `enum`), exactly as OpenAPI 3.0.3 defines it, so it does nothing
without a `type` and never lets null past an `allOf` or a `$ref` (the
linters read it the same way; openapi.yaml spells a nullable reference as
`oneOf: [<ref>, Null]`); `example`, `x-*` and the other annotations are
dropped. `$ref`s resolve
against the translated document, so a component is checked the same way
wherever it is used.
"""

import copy
import json
import os

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC_PATH = os.path.join(HERE, "..", "..", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch", "options", "head")
SERVICES = ("broker", "executor", "coordinator")
# Keywords of an OpenAPI schema object that JSON Schema does not have and
# that say nothing about validity.
ANNOTATIONS = {"example", "examples", "discriminator", "xml", "externalDocs", "deprecated",
               "readOnly", "writeOnly"}


def to_json_schema(node):
    """The JSON Schema (Draft 4) meaning of an OpenAPI 3.0 schema tree."""
    if isinstance(node, list):
        return [to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in ANNOTATIONS or k.startswith("x-") or k == "nullable":
            continue
        if k in ("properties", "patternProperties", "definitions"):
            out[k] = {name: to_json_schema(s) for name, s in v.items()}
        else:
            out[k] = to_json_schema(v)
    if node.get("nullable") is True and "type" in out:
        t = out["type"]
        out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
    return out


class Operation:
    def __init__(self, path, method, op, path_item):
        self.path = path
        self.method = method.upper()
        self.op = op
        self.id = op.get("operationId") or "%s %s" % (self.method, path)
        tags = set(op.get("tags", []))
        self.services = [s for s in SERVICES if s in tags or "common" in tags]
        self.params = list(path_item.get("parameters", [])) + list(op.get("parameters", []))
        self.responses = op.get("responses", {})

    def __repr__(self):
        return "<%s %s %s>" % (self.id, self.method, self.path)


class Spec:
    def __init__(self, path=SPEC_PATH):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.schema_root = {"components": to_json_schema(self.doc.get("components", {}))}
        self.resolver = jsonschema.RefResolver("", self.schema_root)
        self.operations = []
        for p, item in self.doc.get("paths", {}).items():
            for m in METHODS:
                if m in item:
                    self.operations.append(Operation(p, m, item[m], item))

    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            ptr = node["$ref"]
            assert ptr.startswith("#/"), ptr
            node = self.doc
            for part in ptr[2:].split("/"):
                node = node[part]
        return node

    def methods_of(self, path, service):
        """The methods the spec says `service` serves at path."""
        return sorted(o.method for o in self.operations if o.path == path and service in o.services)

    def response(self, op, status):
        """The documented response object for status (exact, then 4XX/5XX,
        then default), or None."""
        r = op.responses
        for key in (str(status), "%dXX" % (status // 100), "default"):
            if key in r:
                return self.deref(r[key])
        return None

    def check_body(self, schema, body, where):
        """Problems of body against an OpenAPI schema (empty: none)."""
        js = to_json_schema(schema)
        v = jsonschema.Draft4Validator(js, resolver=self.resolver)
        return ["%s: %s at /%s" % (where, e.message[:300], "/".join(str(x) for x in e.absolute_path))
                for e in sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path))][:5]

    def check_reply(self, op, status, content_type, body_bytes, where=""):
        """Problems of a reply to op (empty list: it matches the contract)."""
        where = where or "%s %s" % (op.id, status)
        resp = self.response(op, status)
        if resp is None:
            return ["%s: status %s is not documented for %s %s (documented: %s)" %
                    (where, status, op.method, op.path, ", ".join(sorted(op.responses)))]
        return self.check_content(resp, content_type, body_bytes, where)

    def check_content(self, resp, content_type, body_bytes, where):
        content = resp.get("content")
        if not content:
            return [] if not body_bytes else ["%s: a body where none is documented" % where]
        ct = (content_type or "").split(";")[0].strip().lower()
        media = None
        for k, v in content.items():
            if k.split(";")[0].strip().lower() == ct:
                media = v
        if media is None:
            return ["%s: Content-Type %r is not documented (documented: %s)" %
                    (where, content_type, ", ".join(content))]
        schema = media.get("schema")
        if schema is None:
            return []
        if ct == "application/json":
            try:
                body = json.loads(body_bytes)
            except ValueError as e:
                return ["%s: not JSON: %s" % (where, e)]
        else:
            body = body_bytes.decode("utf-8", "replace")
        return self.check_body(schema, body, where)

    def component_response(self, name):
        return copy.deepcopy(self.doc["components"]["responses"][name])
