"""Every Firestore query the code runs, recorded by its *shape*, so Terraform can index it.

The emulator answers any query; production refuses one that needs a composite index nobody
declared ("The query requires an index"). So the test session watches the real client's
`RunQuery` / `RunAggregationQuery` calls (they still go to the emulator unchanged) and reduces
each to the fields an index depends on. `tests/terraform/firestore_queries.json` is the list of
shapes the code is known to run; the session fails when it sees one that is not listed, and
`tests/terraform/test_firestore_indexes.py` checks each listed shape against the indexes in
`terraform/firestore.tf`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

INVENTORY = Path(__file__).resolve().parent / "terraform" / "firestore_queries.json"

# Operators an index serves like equality (any order of these fields in the index prefix).
_EQUALITY = {"EQUAL", "IN", "ARRAY_CONTAINS", "ARRAY_CONTAINS_ANY", "IS_NULL", "IS_NAN"}


@dataclass(frozen=True, order=True)
class QueryShape:
    collection: str
    collection_group: bool
    equalities: tuple[str, ...] = ()
    inequalities: tuple[str, ...] = ()
    order: tuple[tuple[str, str], ...] = ()  # (field, ASCENDING|DESCENDING), `__name__` dropped
    vector: tuple[str, int] | None = None  # find_nearest: (field, dimension)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["order"] = [list(pair) for pair in self.order]
        data["vector"] = list(self.vector) if self.vector else None
        data["equalities"] = list(self.equalities)
        data["inequalities"] = list(self.inequalities)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueryShape:
        vector = data.get("vector")
        return cls(
            collection=data["collection"],
            collection_group=bool(data["collection_group"]),
            equalities=tuple(data.get("equalities") or ()),
            inequalities=tuple(data.get("inequalities") or ()),
            order=tuple((str(f), str(d)) for f, d in data.get("order") or ()),
            vector=(str(vector[0]), int(vector[1])) if vector else None,
        )


def shape_of(structured_query: Any) -> QueryShape:
    """The index-relevant shape of a `StructuredQuery` (proto-plus or raw protobuf)."""
    from google.cloud.firestore_v1.types import StructuredQuery

    pb = (
        structured_query
        if not isinstance(structured_query, StructuredQuery)
        else StructuredQuery.pb(structured_query)
    )
    source = pb.from_[0]
    equalities: set[str] = set()
    inequalities: set[str] = set()
    if pb.HasField("where"):
        _walk_filter(pb.where, equalities, inequalities)
    order = tuple(
        (o.field.field_path, StructuredQuery.Direction(o.direction).name)
        for o in pb.order_by
        if o.field.field_path != "__name__"
    )
    vector = None
    if pb.HasField("find_nearest"):
        nearest = pb.find_nearest
        values = nearest.query_vector.map_value.fields["value"].array_value.values
        vector = (nearest.vector_field.field_path, len(values))
    return QueryShape(
        collection=source.collection_id,
        collection_group=bool(source.all_descendants),
        equalities=tuple(sorted(equalities)),
        inequalities=tuple(sorted(inequalities)),
        order=order,
        vector=vector,
    )


def _walk_filter(node: Any, equalities: set[str], inequalities: set[str]) -> None:
    from google.cloud.firestore_v1.types import StructuredQuery

    kind = node.WhichOneof("filter_type")
    if kind == "composite_filter":
        op = StructuredQuery.CompositeFilter.Operator(node.composite_filter.op).name
        if op != "AND":
            raise AssertionError("OR queries need their own index review; none are expected")
        for child in node.composite_filter.filters:
            _walk_filter(child, equalities, inequalities)
    elif kind == "field_filter":
        op = StructuredQuery.FieldFilter.Operator(node.field_filter.op).name
        target = equalities if op in _EQUALITY else inequalities
        target.add(node.field_filter.field.field_path)
    elif kind == "unary_filter":
        op = StructuredQuery.UnaryFilter.Operator(node.unary_filter.op).name
        target = equalities if op in _EQUALITY else inequalities
        target.add(node.unary_filter.field.field_path)


class QueryRecorder:
    """Wraps the Firestore client's query RPCs to note each query's shape, then calls them."""

    def __init__(self) -> None:
        self.shapes: set[QueryShape] = set()
        self._lock = threading.Lock()
        self._originals: list[tuple[type, str, Callable[..., Any]]] = []

    def install(self) -> None:
        from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

        for name, key in (
            ("run_query", "structured_query"),
            ("run_aggregation_query", "structured_aggregation_query"),
        ):
            original = getattr(FirestoreClient, name)
            self._originals.append((FirestoreClient, name, original))
            setattr(FirestoreClient, name, self._wrap(original, key))

    def uninstall(self) -> None:
        for owner, name, original in self._originals:
            setattr(owner, name, original)
        self._originals.clear()

    def _wrap(self, original: Callable[..., Any], key: str) -> Callable[..., Any]:
        recorder = self

        def recorded(client: Any, *args: Any, **kwargs: Any) -> Any:
            request = kwargs.get("request", args[0] if args else None)
            recorder._note(request, key)
            return original(client, *args, **kwargs)

        return recorded

    def _note(self, request: Any, key: str) -> None:
        if request is None:
            return
        query = request.get(key) if isinstance(request, dict) else getattr(request, key, None)
        if query is None:
            return
        if key == "structured_aggregation_query":
            query = query.structured_query
        shape = shape_of(query)
        with self._lock:
            self.shapes.add(shape)


def load_inventory(path: Path = INVENTORY) -> set[QueryShape]:
    if not path.exists():
        return set()
    return {QueryShape.from_json(item) for item in json.loads(path.read_text())}


def write_inventory(shapes: set[QueryShape], path: Path = INVENTORY) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    items = [shape.as_json() for shape in sorted(shapes)]
    path.write_text(json.dumps(items, indent=2) + "\n")
