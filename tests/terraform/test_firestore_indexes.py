"""Every query shape the code runs is served by an index production has.

Firestore's rules, as used here:
- a collection query with only equality filters, or with one field ranged or ordered and no
  other filter, is served by the automatic single-field indexes (equalities are merged);
- equality filters plus a range or an order on another field need a composite index: the
  equality fields first (any order), then the ordered fields in order and direction;
- a collection-group query with any filter needs a declared index of COLLECTION_GROUP scope
  (single-field indexes are automatic for collection scope only);
- `find_nearest` needs a vector index: the equality fields, then the vector field with the
  query vector's dimension.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.query_shapes import QueryShape, load_inventory
from tests.terraform.hcl import ROOT, config, first


@dataclass(frozen=True)
class Index:
    name: str
    collection: str
    collection_group: bool
    fields: tuple[tuple[str, str], ...]  # (path, ASCENDING|DESCENDING|VECTOR:<dimension>)


def declared_indexes() -> list[Index]:
    default_dimension = config().variables["embedding_dimensions"]["default"]
    indexes = []
    for name, body in config().of_type("google_firestore_index").items():
        fields = []
        for spec in body["fields"]:
            if "vector_config" in spec:
                dimension = first(spec["vector_config"])["dimension"]
                if dimension == "${var.embedding_dimensions}":
                    dimension = default_dimension
                fields.append((spec["field_path"], f"VECTOR:{dimension}"))
            else:
                fields.append((spec["field_path"], spec["order"]))
        indexes.append(
            Index(
                name, body["collection"], body["query_scope"] == "COLLECTION_GROUP", tuple(fields)
            )
        )
    return indexes


def ordered_fields(shape: QueryShape) -> tuple[tuple[str, str], ...]:
    if shape.order:
        return shape.order
    return tuple((field, "ASCENDING") for field in shape.inequalities)


def needs_declared_index(shape: QueryShape) -> bool:
    if shape.vector:
        return True
    filtered = bool(shape.equalities or shape.inequalities or shape.order)
    if shape.collection_group:
        return filtered
    ordered = {field for field, _ in ordered_fields(shape)}
    if not ordered:
        return False  # equalities only: merged single-field indexes
    return bool(set(shape.equalities) - ordered) or len(ordered) > 1


def serves(index: Index, shape: QueryShape) -> bool:
    if (index.collection, index.collection_group) != (shape.collection, shape.collection_group):
        return False
    equalities = set(shape.equalities)
    prefix, rest = index.fields[: len(equalities)], index.fields[len(equalities) :]
    if {path for path, _ in prefix} != equalities:
        return False
    if shape.vector:
        field, dimension = shape.vector
        return rest == ((field, f"VECTOR:{dimension}"),) and not shape.order
    wanted = ordered_fields(shape)
    if any(kind.startswith("VECTOR") for _, kind in rest):
        return False
    if not wanted:
        return not rest
    return rest == wanted  # exact directions: reverse scans are not counted on


def _label(shape: QueryShape) -> str:
    scope = "group " if shape.collection_group else ""
    return (
        f"{scope}{shape.collection} eq={shape.equalities} ineq={shape.inequalities}"
        f" order={shape.order} vector={shape.vector}"
    )


SHAPES = sorted(load_inventory())


def test_the_inventory_holds_the_shapes_the_suite_recorded():
    assert len(SHAPES) > 10, "tests/terraform/firestore_queries.json is empty or missing"


@pytest.mark.parametrize("shape", SHAPES, ids=_label)
def test_each_query_shape_is_served_in_production(shape: QueryShape):
    if not needs_declared_index(shape):
        return
    serving = [index.name for index in declared_indexes() if serves(index, shape)]
    assert serving, f"declare an index in terraform/firestore.tf for {_label(shape)}"


def test_every_declared_index_serves_a_query_the_code_runs():
    """An index no query uses only costs writes."""
    unused = [
        index.name
        for index in declared_indexes()
        if not any(serves(index, shape) for shape in SHAPES)
    ]
    assert unused == []


def test_the_rules_refuse_what_production_would_refuse():
    """The matcher itself: shapes production is known to reject without a composite index."""
    audit = QueryShape("audit", False, ("kind",), (), (("at", "DESCENDING"),))
    assert needs_declared_index(audit)
    equality_only = QueryShape("workflows", False, ("contact_id", "state"))
    assert not needs_declared_index(equality_only)
    group = QueryShape("events", True, ("type",))
    assert needs_declared_index(group)
    wrong_direction = Index("i", "audit", False, (("kind", "ASCENDING"), ("at", "ASCENDING")))
    assert not serves(wrong_direction, audit)
    right = Index("i", "audit", False, (("kind", "ASCENDING"), ("at", "DESCENDING")))
    assert serves(right, audit)
    vector = QueryShape("voice_chunks", True, ("model", "rep"), vector=("embedding", 384))
    small = Index(
        "v",
        "voice_chunks",
        True,
        (("rep", "ASCENDING"), ("model", "ASCENDING"), ("embedding", "VECTOR:256")),
    )
    assert not serves(small, vector)


def _code_writing(collection: str, field: str) -> list[str]:
    """Modules that name the collection and write the field (a literal key)."""
    found = []
    for path in (ROOT / "shared").rglob("*.py"):
        text = path.read_text()
        if re.search(rf"[\"']{collection}[\"']", text) and f'"{field}"' in text:
            found.append(str(path.relative_to(ROOT)))
    return found


def test_ttl_policies_name_fields_the_code_writes_as_timestamps():
    ttl = config().locals["ttl_fields"]
    assert {"hubspot_events", "gmail_messages", "oauth_flows", "send_counters"} <= set(ttl)
    for collection, field in ttl.items():
        assert _code_writing(collection, field), f"nothing writes {collection}.{field}"


def test_unindexed_fields_are_fields_the_code_writes_and_never_queries():
    queried = {(s.collection, f) for s in SHAPES for f in (*s.equalities, *s.inequalities)}
    queried |= {(s.collection, f) for s in SHAPES for f, _ in s.order}
    for spec in config().locals["unindexed_fields"].values():
        key = (spec["collection"], spec["field"])
        assert key not in queried, f"{key} is queried: it needs its index"
        assert _code_writing(*key), f"nothing writes {key}"
