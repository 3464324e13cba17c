"""The event catalogue as one self-contained HTML page, rendered from the AsyncAPI document.

Plain Python templating, every value escaped, no scripts, styles or fonts from elsewhere: the
page renders the same offline as on a deployment, and says what the AsyncAPI document says.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem;
       line-height: 1.4; color: #1b1b1b; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f2f2f2; }
code { font-size: 0.95em; }
section.message { border-top: 1px solid #ddd; padding-top: 0.5rem; }
"""

_CONSTRAINTS = ("format", "pattern", "minimum", "maximum", "exclusiveMinimum",
                "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "enum" in prop:
        return "one of " + ", ".join(str(v) for v in prop["enum"])
    if "const" in prop:
        return f"always {prop['const']}"
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    return str(prop.get("type", "any"))


def _constraints(prop: dict[str, Any]) -> str:
    found = [f"{key} {prop[key]}" for key in _CONSTRAINTS if key in prop]
    for option in prop.get("anyOf", []):
        found += [f"{key} {option[key]}" for key in _CONSTRAINTS if key in option]
    return "; ".join(found)


def _fields_table(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = [
        f"<tr><td><code>{_e(name)}</code></td><td>{_e(_type_of(prop))}</td>"
        f"<td>{'yes' if name in required else 'no'}</td><td>{_e(_constraints(prop))}</td>"
        f"<td>{_e(prop.get('description', ''))}</td></tr>"
        for name, prop in schema.get("properties", {}).items()
    ]
    return ("<table><tr><th>field</th><th>type</th><th>required</th><th>constraints</th>"
            "<th>meaning</th></tr>" + "".join(rows) + "</table>")


def _message(key: str, message: dict[str, Any]) -> str:
    ce_type = message["x-ce-type"]
    return (f'<section class="message" id="{_e(key)}"><h3>{_e(message["title"])}</h3>'
            f"<p>{_e(message.get('summary', ''))}</p>"
            f"<p>CloudEvents type <code>{_e(ce_type)}</code>; JSON Schema of the data: "
            f'<a href="schemas/{_e(ce_type)}">schemas/{_e(ce_type)}</a></p>'
            f"{_fields_table(message['payload'])}</section>")


def _nested_type(name: str, schema: dict[str, Any]) -> str:
    if "properties" not in schema:
        return (f'<section id="type-{_e(name)}"><h3>{_e(name)}</h3>'
                f"<p>{_e(_type_of(schema))}</p></section>")
    return (f'<section id="type-{_e(name)}"><h3>{_e(name)}</h3>'
            f"<p>{_e(schema.get('description', ''))}</p>{_fields_table(schema)}</section>")


def catalogue_html(document: dict[str, Any]) -> str:
    """The page for an AsyncAPI 3.0 document as ``asyncapi_document()`` makes it."""
    info, messages = document["info"], document["components"]["messages"]
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(info['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(info['title'])} <small>{_e(info['version'])}</small></h1>",
        f"<p>{_e(info.get('description', ''))}</p>",
        '<p>Machine-readable: <a href="asyncapi.json">asyncapi.json</a> (AsyncAPI '
        f"{_e(document['asyncapi'])}), <a href=\"schemas\">schemas</a>.</p>",
        "<h2>Headers of every message</h2>",
        _fields_table(document["components"]["schemas"]["CloudEventHeaders"]),
    ]
    for name, channel in document["channels"].items():
        parts.append(f'<h2 id="{_e(name)}">Topic <code>{_e(channel["address"])}</code></h2>')
        parts.append(f"<p>{_e(channel.get('description', ''))}</p>")
        keys = list(channel.get("messages", {}))
        if keys:
            parts.append("<ul>" + "".join(
                f'<li><a href="#{_e(k)}">{_e(messages[k]["title"])}</a></li>' for k in keys)
                + "</ul>")
        parts.extend(_message(k, messages[k]) for k in keys)
    parts.append("<h2>Nested types</h2>")
    parts.extend(_nested_type(name, schema)
                 for name, schema in document["components"]["schemas"].items()
                 if name != "CloudEventHeaders")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
