"""Check deploy/envoy/envoy.yaml offline against Envoy's own API definitions.

No Envoy binary is installable from the package registries, so this does
what can be done without one, with the generated Python code of Envoy's
data-plane API (the `xds-protos` package, from the gRPC project):

1. the YAML parses into an `envoy.config.bootstrap.v3.Bootstrap` message:
   every field name exists, every value has the field's type, every enum
   value is defined, and every `typed_config` names an extension type that
   exists and parses in turn;
2. the protoc-gen-validate rules that Envoy declares on its fields hold
   (required fields and oneofs, minimum lengths and item counts, numeric and
   duration bounds), recursing into every `typed_config`;
3. cross references: each route's cluster is defined, and each cluster's
   load_assignment names its own cluster.

Not checked (only `envoy --mode validate` does): rules Envoy enforces in
C++ beyond the annotations, whether the extensions are compiled into a
given Envoy build, and anything about the network (DNS names, ports).

    python deploy/validate_envoy.py deploy/envoy/envoy.yaml

Needs `xds-protos` and PyYAML, in an environment of its own: xds-protos
ships an `opentelemetry` package that shadows the real one, which Ray needs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from google.protobuf import any_pb2, duration_pb2, json_format, symbol_database
from google.protobuf.message import Message

# Importing the modules registers the types that typed_config may name.
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2  # noqa: F401
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2  # noqa: F401
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401
from validate import validate_pb2


def _duration_seconds(d: duration_pb2.Duration) -> float:
    return d.seconds + d.nanos / 1e9


def _check_number(path: str, value: float, rules: Message, problems: list[str]) -> None:
    for bound, ok in (("gt", lambda v, b: v > b), ("gte", lambda v, b: v >= b),
                      ("lt", lambda v, b: v < b), ("lte", lambda v, b: v <= b)):
        if rules.HasField(bound) and not ok(value, getattr(rules, bound)):
            problems.append(f"{path}: {value} must be {bound} {getattr(rules, bound)}")


def _unpack(message: any_pb2.Any) -> Message | None:
    name = message.type_url.rsplit("/", 1)[-1]
    try:
        inner = symbol_database.Default().GetSymbol(name)()
    except KeyError:
        return None
    message.Unpack(inner)
    return inner


def check_rules(message: Message, path: str, problems: list[str]) -> None:
    """Append to `problems` every protoc-gen-validate rule of `message` (recursively) that does not hold."""
    descriptor = message.DESCRIPTOR
    for oneof in descriptor.oneofs:
        if oneof.GetOptions().Extensions[validate_pb2.required] and message.WhichOneof(oneof.name) is None:
            problems.append(f"{path}: one of {', '.join(f.name for f in oneof.fields)} is required")
    for field in descriptor.fields:
        where = f"{path}.{field.name}"
        rules = field.GetOptions().Extensions[validate_pb2.rules]
        repeated = field.is_repeated
        is_message = field.message_type is not None
        if repeated:
            values = getattr(message, field.name)
            if rules.HasField("repeated") and rules.repeated.min_items and len(values) < rules.repeated.min_items:
                problems.append(f"{where}: needs at least {rules.repeated.min_items} item(s)")
            if is_message and not field.message_type.GetOptions().map_entry:
                for i, item in enumerate(values):
                    check_rules(item, f"{where}[{i}]", problems)
            continue
        in_oneof = field.containing_oneof is not None
        if in_oneof and message.WhichOneof(field.containing_oneof.name) != field.name:
            continue  # a oneof member's rules apply only when it is the one set
        if is_message:
            present = message.HasField(field.name)
            if rules.HasField("message") and rules.message.required and not present:
                problems.append(f"{where}: is required")
            if not present:
                continue
            value = getattr(message, field.name)
            if rules.HasField("duration"):
                seconds = _duration_seconds(value)
                for bound in ("gt", "gte", "lt", "lte"):
                    if rules.duration.HasField(bound):
                        limit = _duration_seconds(getattr(rules.duration, bound))
                        if not {"gt": seconds > limit, "gte": seconds >= limit,
                                "lt": seconds < limit, "lte": seconds <= limit}[bound]:
                            problems.append(f"{where}: {seconds}s must be {bound} {limit}s")
            if isinstance(value, any_pb2.Any):
                inner = _unpack(value)
                if inner is None:
                    problems.append(f"{where}: unknown type {value.type_url}")
                else:
                    check_rules(inner, f"{where}<{inner.DESCRIPTOR.name}>", problems)
            else:
                check_rules(value, where, problems)
            continue
        value = getattr(message, field.name)
        kind = rules.WhichOneof("type")
        if kind == "string" and value and rules.string.min_len and len(value) < rules.string.min_len:
            problems.append(f"{where}: shorter than {rules.string.min_len}")
        elif kind == "string" and rules.string.min_len and not value:
            problems.append(f"{where}: must not be empty")
        elif kind in ("uint32", "uint64", "int32", "int64", "double", "float"):
            _check_number(where, value, getattr(rules, kind), problems)


def cross_references(bootstrap: bootstrap_pb2.Bootstrap) -> list[str]:
    """Routes that name a cluster not defined, clusters whose load_assignment names another cluster."""
    problems = []
    clusters = {c.name for c in bootstrap.static_resources.clusters}
    for cluster in bootstrap.static_resources.clusters:
        if cluster.HasField("load_assignment") and cluster.load_assignment.cluster_name != cluster.name:
            problems.append(f"cluster {cluster.name}: load_assignment.cluster_name is {cluster.load_assignment.cluster_name}")
    for listener in bootstrap.static_resources.listeners:
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                manager = _unpack(network_filter.typed_config)
                if manager is None or not hasattr(manager, "route_config"):
                    continue
                for host in manager.route_config.virtual_hosts:
                    for route in host.routes:
                        if route.route.cluster and route.route.cluster not in clusters:
                            problems.append(f"listener {listener.name}: route to undefined cluster {route.route.cluster}")
    return problems


def validate(path: Path) -> list[str]:
    """Every problem found in the Envoy bootstrap file at `path` (empty: valid as far as this checks)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        bootstrap = json_format.ParseDict(data, bootstrap_pb2.Bootstrap())
    except (yaml.YAMLError, json_format.ParseError) as exc:
        return [f"{path}: {exc}"]
    problems: list[str] = []
    check_rules(bootstrap, "bootstrap", problems)
    return problems + cross_references(bootstrap)


def main(argv: list[str]) -> int:
    failed = False
    for name in argv or ["deploy/envoy/envoy.yaml"]:
        problems = validate(Path(name))
        for problem in problems:
            print(f"{name}: {problem}", file=sys.stderr)
        print(f"{name}: {'INVALID' if problems else 'valid'} (Envoy v3 API, xds-protos)")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
