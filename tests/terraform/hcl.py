"""The Terraform configuration, parsed with python-hcl2 (no provider needed), and a small
evaluator for the expressions the functions' environment uses."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"


def _load(text: str) -> dict[str, Any]:
    import hcl2
    from hcl2.utils import SerializationOptions

    options = SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True
    )
    return hcl2.loads(text, serialization_options=options)


@dataclass
class Config:
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources[(kind, name)]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: body for (k, name), body in self.resources.items() if k == kind}


@cache
def config() -> Config:
    parsed = Config()
    for path in sorted(TERRAFORM.glob("*.tf")):
        tree = _load(path.read_text())
        for block in tree.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    assert (kind, name) not in parsed.resources, f"{kind}.{name} twice"
                    parsed.resources[(kind, name)] = body
        for block in tree.get("data", []):
            for kind, named in block.items():
                for name, body in named.items():
                    parsed.data[(kind, name)] = body
        for block in tree.get("variable", []):
            parsed.variables.update(block)
        for block in tree.get("output", []):
            parsed.outputs.update(block)
        for block in tree.get("locals", []):
            for key, value in block.items():
                assert key not in parsed.locals, f"local.{key} twice"
                parsed.locals[key] = value
        parsed.terraform.extend(tree.get("terraform", []))
    return parsed


def example_vars() -> dict[str, Any]:
    return _load((TERRAFORM / "terraform.tfvars.example").read_text())


def first(block: Any) -> dict[str, Any]:
    """python-hcl2 gives a nested block as a list of one dict."""
    return block[0] if isinstance(block, list) else block


# --- evaluating the environment's expressions -------------------------------------------------


class Unevaluated(Exception):
    """An expression this small evaluator does not know: teach it, or simplify the .tf."""


@dataclass
class Evaluator:
    """Values for `var.*`, `local.*` and resource attributes, as a deployment would have them."""

    variables: dict[str, Any]
    locals_: dict[str, Any]
    attributes: dict[str, Any]
    scope: dict[str, Any] = field(default_factory=dict)

    def value(self, raw: Any) -> Any:
        if isinstance(raw, str):
            whole = _whole_expression(raw)
            if whole is not None:
                return self.expression(whole)
            return _INTERPOLATION_PART.sub(lambda m: _hcl_string(self.expression(m.group(1))), raw)
        if isinstance(raw, list):
            return [self.value(item) for item in raw]
        if isinstance(raw, dict):
            return {key: self.value(item) for key, item in raw.items()}
        return raw

    def _within(self, **names: Any) -> Evaluator:
        return Evaluator(self.variables, self.locals_, self.attributes, {**self.scope, **names})

    def expression(self, text: str) -> Any:
        text = text.strip()
        loop = re.fullmatch(r"\[for (\w+) in (.+?) : (.+)\]", text, re.DOTALL)
        if loop:
            name, source, body = loop.groups()
            return [
                self._within(**{name: item}).expression(body) for item in self.expression(source)
            ]
        mapping = re.fullmatch(
            r"\{\s*for (\w+), (\w+) in (.+?) : (.+?) => (.+?)\s*\}", text, re.DOTALL
        )
        if mapping:
            key_name, value_name, source, key, body = mapping.groups()
            result = {}
            for k, v in self.expression(source).items():
                inner = self._within(**{key_name: k, value_name: v})
                result[inner.expression(key)] = inner.expression(body)
            return result
        call = re.fullmatch(r"(\w+)\((.*)\)", text, re.DOTALL)
        if call:
            name, inner_text = call.groups()
            args = [self.expression(a) for a in _split_args(inner_text)]
            if name == "join":
                return str(args[0]).join(_hcl_string(a) for a in args[1])
            if name == "tostring":
                return _hcl_string(args[0])
            if name == "replace":
                return str(args[0]).replace(str(args[1]), str(args[2]))
            raise Unevaluated(text)
        if text.startswith('"') and text.endswith('"'):
            return self.value(text[1:-1])
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return ast.literal_eval(text)
        if text in self.attributes:
            return self.attributes[text]
        path = text.split(".")
        if path[0] in self.scope:
            return self._walk(self.scope[path[0]], path[1:], text)
        if path[0] == "var":
            return self._walk(self.variables, path[1:], text)
        if path[0] == "local":
            return self._walk(self.locals_, path[1:], text)
        raise Unevaluated(text)

    def _walk(self, root: Any, path: list[str], text: str) -> Any:
        value = root
        for part in path:
            if isinstance(value, str):
                value = self.value(value)
            if not isinstance(value, dict) or part not in value:
                raise Unevaluated(text)
            value = value[part]
        return self.value(value) if isinstance(value, str) else value


_INTERPOLATION_PART = re.compile(r"\$\{([^}]*)\}")


def _whole_expression(raw: str) -> str | None:
    """`x` when `raw` is exactly `${x}` (braces inside x balanced), else None."""
    if not (raw.startswith("${") and raw.endswith("}")):
        return None
    depth = 0
    for index, char in enumerate(raw[1:], start=1):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return raw[2:-1].strip() if index == len(raw) - 1 else None
    return None


def _hcl_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _split_args(text: str) -> list[str]:
    args, depth, current, quoted = [], 0, "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if not quoted and char in "([{":
            depth += 1
        if not quoted and char in ")]}":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            args.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        args.append(current)
    return args


def deployment_variables() -> dict[str, Any]:
    """Each variable's value in a deployment from terraform.tfvars.example (else its default)."""
    values = {
        name: spec.get("default") for name, spec in config().variables.items() if "default" in spec
    }
    values.update(example_vars())
    return values
