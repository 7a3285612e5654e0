"""ORCID's 3.0 XSDs applied to the JSON the sandbox receives, the way ORCID applies them.

ORCID reads a JSON body with Jackson into its JAXB model, then validates the item against its XSD
(``OrcidJacksonJaxbJsonProvider.readFrom`` and ``JSONInputValidator`` in ORCID-Source). A field Jackson cannot map (an
unknown name, an object where a string belongs, an array where one value belongs) and a schema violation both become
``InvalidJSONException``: 400, error-code 9047, "400 Bad request: invalid JSON - <cause>".

The sandbox does the same in two steps. It renders the JSON as the XML ORCID would marshal, walking the XSD's element
declarations (JSON keys are the elements' and attributes' local names, ``value`` is an element's text, arrays are
repeated elements, children are put in the schema's order); what cannot be rendered is Jackson's failure. xmlschema
then validates the XML against the element's declaration.

Validating a whole tree with xmlschema costs ~15 µs per element, too slow for bulks of 100 works at ORCID's 24
requests/s. These schemas have no identity constraints, wildcards, xsi:type or fixed values, so a tree is valid exactly
when its shape (element names, order, attribute names) is valid and each text and attribute value is valid for its
simple type. The first tree of each shape is validated whole; a valid shape is remembered with the simple type of each
of its values, and later trees of that shape only check their values against those types (~2-4 µs each). Any failure
is validated whole again, so the error quoted is always xmlschema's own.
"""

from __future__ import annotations

import functools
import os
import threading
import xml.etree.ElementTree as ET  # nosec B405 - the sandbox only builds XML from JSON here, it parses none
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xmlschema
from xmlschema.validators.validation import ValidationContext

from .errors import OrcidApiError, orcid_error
from .vocabularies import Vocabularies, load_vocabularies

ORCID_MODEL_ENV = "ORCID_MODEL_DIR"
NAMESPACES = {
    "common": "http://www.orcid.org/ns/common",
    "work": "http://www.orcid.org/ns/work",
    "researcher-url": "http://www.orcid.org/ns/researcher-url",
    "employment": "http://www.orcid.org/ns/employment",
}
ROOTS = {
    "work": "{http://www.orcid.org/ns/work}work",
    "researcher-url": "{http://www.orcid.org/ns/researcher-url}researcher-url",
    "employment": "{http://www.orcid.org/ns/employment}employment",
}
# Elements whose XSD type is a plain simple type but whose Java class wraps the text, so ORCID's JSON writes them as
# {"value": ...} (see record-full-3.0.json). Elements of complex types with simple content are written that way too.
_WRAPPED_SIMPLE_ELEMENTS = frozenset({"title", "subtitle", "journal-title", "external-id-url"})
_SHAPE_CACHE_LIMIT = 4096
_XS_DATETIME = "{http://www.w3.org/2001/XMLSchema}dateTime"
_XS_STRING = "{http://www.w3.org/2001/XMLSchema}string"

Leaf = tuple[ET.Element, str | None]


def default_model_dir() -> Path:
    """``$ORCID_MODEL_DIR``, else ``shared/orcid-model`` beside the repository."""
    configured = os.environ.get(ORCID_MODEL_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[4] / "shared" / "orcid-model"


class _MappingError(Exception):
    """JSON that Jackson could not map onto ORCID's model; `path` is filled in on the way out."""

    def __init__(self, problem: str, tail: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.tail = tail
        self.path: list[str] = []

    def __str__(self) -> str:
        return f"{self.problem} at /{'/'.join(self.path)}{self.tail}"


@dataclass(frozen=True, eq=False)
class _Node:
    """What the XSD declares for one element, in the form the JSON walk needs."""

    name: str
    local: str
    repeated: bool
    has_text: bool
    wrapped: bool
    epoch_millis: bool
    attributes: frozenset[str]
    children: Mapping[str, _Node]
    order: Mapping[str, int]


def _build_node(element: Any, repeated: bool = False) -> _Node:
    xsd_type = element.type
    attributes = frozenset() if xsd_type.is_simple() else frozenset(xsd_type.attributes)
    has_children = not xsd_type.is_simple() and not xsd_type.has_simple_content()
    child_declarations = xsd_type.content.iter_elements() if has_children else []
    children: dict[str, _Node] = {}
    order: dict[str, int] = {}
    for position, child in enumerate(child_declarations):
        if child.local_name not in children:
            children[child.local_name] = _build_node(child, repeated=child.max_occurs != 1)
            order[child.local_name] = position
    # Simple content, or mixed content with no child elements (source-name): the element carries text.
    has_text = not children and (xsd_type.is_simple() or xsd_type.has_simple_content() or xsd_type.mixed)
    wrapped = has_text and (not xsd_type.is_simple() or element.local_name in _WRAPPED_SIMPLE_ELEMENTS)
    # created-date and last-modified-date: xs:dateTime in XML, epoch milliseconds in ORCID's JSON.
    value_type = xsd_type if xsd_type.is_simple() else xsd_type.content if xsd_type.has_simple_content() else None
    epoch_millis = getattr(getattr(value_type, "primitive_type", None), "name", None) == _XS_DATETIME
    return _Node(
        element.name, element.local_name, repeated, has_text, wrapped, epoch_millis, attributes, children, order
    )


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "a scalar"


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise _MappingError(f"Cannot deserialize value of type `String` from {_json_kind(value)}")


def _iso_datetime(epoch_ms: int) -> str:
    try:
        return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        raise _MappingError(f"Cannot deserialize {epoch_ms} as a date") from None


def _walk(node: _Node, value: object, texts: list[str], elements: list[Leaf] | None) -> tuple[Hashable, Any]:
    """Map `value` onto `node` as Jackson and JAXB would: its shape, and its values appended to `texts` in document
    order. With `elements`, also build the XML element and append each value's (element, attribute) to it."""
    if node.has_text:
        return _walk_text(node, value, texts, elements)
    if type(value) is not dict:
        raise _MappingError(f"Cannot construct `{node.local}` from {_json_kind(value)}")
    element = None if elements is None else ET.Element(node.name)
    attributes, children = _members(node, value)
    names = _attributes(attributes, texts, element, elements)
    shapes = []
    for _, key, child, item in children:
        try:
            shape, child_element = _walk(child, item, texts, elements)
        except _MappingError as error:
            error.path[:0] = key.split("/")
            raise
        shapes.append(shape)
        if element is not None:
            element.append(child_element)
    return (node.local, names, tuple(shapes)), element


def _walk_text(node: _Node, value: object, texts: list[str], elements: list[Leaf] | None) -> tuple[Hashable, Any]:
    """An element with simple content: a bare value, or (for wrapped ones) ``{"value": ..., <attributes>}``."""
    text: object = value
    attributes: dict[str, object] = {}
    if type(value) is dict:
        if not node.wrapped:
            raise _MappingError("Cannot deserialize value of type `String` from an object")
        text = value.get("value")
        for key, item in value.items():
            if key != "value" and item is not None:
                if key not in node.attributes:
                    raise _MappingError(f'Unrecognized field "{key}"', ", not marked as ignorable")
                attributes[key] = item
    elif type(value) is list:
        raise _MappingError("Cannot deserialize a single value from an array")
    element = None if elements is None else ET.Element(node.name)
    names = _attributes(attributes, texts, element, elements)
    if text is None:
        content = ""
    elif node.epoch_millis and type(text) is int:
        content = _iso_datetime(text)
    else:
        content = _text(text)
    texts.append(content)
    if element is not None and elements is not None:
        element.text = content
        elements.append((element, None))
    return (node.local, names), element


def _members(node: _Node, value: dict[str, object]) -> tuple[dict[str, object], list[tuple[int, str, _Node, object]]]:
    """The attributes, and the child elements in the schema's order (repeated ones in their array's order)."""
    attributes: dict[str, object] = {}
    children: list[tuple[int, str, _Node, object]] = []
    in_order = True
    last = -1
    for key, item in value.items():
        if item is None:
            continue
        child = node.children.get(key)
        if child is None:
            if key not in node.attributes:
                raise _MappingError(f'Unrecognized field "{key}"', ", not marked as ignorable")
            attributes[key] = item
            continue
        position = node.order[key]
        in_order = in_order and position >= last
        last = position
        if type(item) is not list:
            # Jackson also accepts a single value where an array belongs (ACCEPT_SINGLE_VALUE_AS_ARRAY).
            children.append((position, key, child, item))
        elif child.repeated:
            entries = enumerate(item)
            children.extend((position, f"{key}/{index}", child, entry) for index, entry in entries if entry is not None)
        else:
            error = _MappingError("Cannot deserialize a single value from an array")
            error.path.append(key)
            raise error
    if not in_order:
        children.sort(key=lambda entry: entry[0])  # stable: repeated items keep their order
    return attributes, children


def _attributes(
    attributes: dict[str, object], texts: list[str], element: ET.Element | None, elements: list[Leaf] | None
) -> tuple[str, ...]:
    if not attributes:
        return ()
    names = tuple(sorted(attributes))
    for name in names:
        try:
            text = _text(attributes[name])
        except _MappingError as error:
            error.path.append(name)
            raise
        texts.append(text)
        if element is not None and elements is not None:
            element.set(name, text)
            elements.append((element, name))
    return names


def _value_type(declaration: Any, attribute: str | None) -> Any:
    """The simple type a value must satisfy; None when any text goes (plain xs:string, mixed content)."""
    xsd_type = declaration.type
    if attribute is not None:
        value_type = xsd_type.attributes[attribute].type
    elif xsd_type.is_simple():
        value_type = xsd_type
    else:
        value_type = xsd_type.content if xsd_type.has_simple_content() else None
    return None if value_type is None or _accepts_any_string(value_type) else value_type


def _accepts_any_string(value_type: Any) -> bool:
    """An xs:string restricted by nothing: no pattern, facet, enumeration, list or union on the way down."""
    while value_type is not None and getattr(value_type, "name", None) != _XS_STRING:
        if not value_type.is_atomic() or getattr(value_type, "patterns", None) or getattr(value_type, "validators", ()):
            return False
        value_type = getattr(value_type, "base_type", None)
    return value_type is not None


class ItemSchema:
    """One global element (work, researcher-url, employment): maps JSON onto it and validates it."""

    def __init__(self, declaration: Any) -> None:
        self.declaration = declaration
        self.node = _build_node(declaration)
        self._shapes: dict[Hashable, tuple[Any, ...]] = {}
        self._local = threading.local()
        # How many items were validated whole by xmlschema, and how many by their shape's value types.
        self.counts = {"whole": 0, "by_shape": 0}

    def _walk(self, raw: object, elements: list[Leaf] | None) -> tuple[Hashable, list[str], Any]:
        texts: list[str] = []
        try:
            shape, element = _walk(self.node, raw, texts, elements)
        except _MappingError as error:
            error.path.insert(0, self.node.local)
            raise orcid_error(9047, error=str(error)) from None
        return shape, texts, element

    def to_xml(self, raw: object) -> ET.Element:
        """The XML ORCID would marshal from `raw`; raises 9047 where Jackson would fail."""
        element: ET.Element = self._walk(raw, [])[2]
        return element

    def validate(self, raw: object) -> None:
        """Raise ORCID's 400/9047 unless `raw` maps onto the model and is valid against the XSD."""
        shape, texts, _ = self._walk(raw, None)
        value_types = self._shapes.get(shape)
        if value_types is not None and self._values_valid(texts, value_types):
            self.counts["by_shape"] += 1
            return
        self.counts["whole"] += 1
        elements: list[Leaf] = []
        _, _, element = self._walk(raw, elements)
        declarations: dict[int, Any] = {}

        def remember(elem: ET.Element, xsd_element: Any) -> None:
            declarations[id(elem)] = xsd_element

        error = next(self.declaration.iter_errors(element, namespaces=NAMESPACES, extra_validator=remember), None)
        if error is not None:
            raise schema_error(error, declarations.get(id(error.elem)))
        if value_types is None and all(id(elem) in declarations for elem, _ in elements):
            if len(self._shapes) >= _SHAPE_CACHE_LIMIT:
                self._shapes.clear()
            self._shapes[shape] = tuple(_value_type(declarations[id(elem)], name) for elem, name in elements)

    def _values_valid(self, texts: list[str], value_types: tuple[Any, ...]) -> bool:
        context = getattr(self._local, "context", None)
        if context is None:
            context = ValidationContext(xmlschema.XMLResource(ET.Element("value")))
            self._local.context = context
        try:
            for text, value_type in zip(texts, value_types, strict=True):
                if value_type is not None:
                    value_type.raw_decode(text, "strict", context)
        except (xmlschema.XMLSchemaValidationError, ValueError):
            return False
        return True


def schema_error(error: Any, declaration: Any = None) -> OrcidApiError:
    """ORCID's 9047 quoting xmlschema's validation error, the failing value's type (named as Xerces names it, as
    ORCID's messages do) and where in the document it happened."""
    reason = str(error.reason)
    if declaration is not None and type(error) is xmlschema.XMLSchemaValidationError:
        xsd_type = declaration.type
        of_the_text = not isinstance(error.obj, dict | ET.Element) and not reason.startswith("attribute ")
        if of_the_text and (xsd_type.is_simple() or xsd_type.has_simple_content()):
            reason += f" for type '{xsd_type.local_name or '#AnonType_' + declaration.local_name}'"
    return orcid_error(9047, error=f"{reason} (at {error.path})")


@dataclass(frozen=True)
class OrcidModel:
    """ORCID's schemas and vocabularies, loaded once per process."""

    directory: Path
    schema: Any
    items: dict[str, ItemSchema]
    vocabularies: Vocabularies


@functools.cache
def load_orcid_model(directory: Path) -> OrcidModel:
    """Load record-3.0.xsd (which imports the work, researcher-url and employment XSDs) and the vocabularies."""
    record_xsd = directory / "record_3.0" / "record-3.0.xsd"
    if not record_xsd.is_file():
        raise FileNotFoundError(
            f"ORCID's XSDs are not at {record_xsd}; set {ORCID_MODEL_ENV} or SandboxConfig.orcid_model_dir "
            "to the orcid-model copy"
        )
    schema = xmlschema.XMLSchema(str(record_xsd))
    items = {kind: ItemSchema(schema.maps.elements[name]) for kind, name in ROOTS.items()}
    return OrcidModel(directory, schema, items, load_vocabularies(directory, schema))
