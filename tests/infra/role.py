"""The actions a Bicep file's custom role definitions grant, read from the Bicep text (no Bicep CLI).

    bicep_role_actions("infra/subscription-roles.bicep", "remediationRole")   # one role
    bicep_role_actions("infra/subscription-roles.bicep")                      # every custom role
    bicep_granted_actions("infra/subscription-roles.bicep")                   # + built-in roles assigned

The reader understands what a role definition may be written with: `//` and `/* */` comments
anywhere (a comment per permission), single-line (`['a', 'b']`) and multi-line arrays, an
`actions:` array given inline or as a `var`, escaped quotes in strings. What it cannot evaluate (an
interpolated string, a function call, a variable inside the array) raises ValueError rather than
being silently left out, so a test built on the list cannot pass on a permission it never saw.
"""

from __future__ import annotations

import re
from pathlib import Path

# Built-in roles by role definition id -> their `actions` (Azure's built-in role definitions).
BUILTIN_ROLE_ACTIONS = {
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": ["*/read"],  # Reader
}

_RESOURCE = re.compile(r"\bresource\s+(\w+)\s+\x00(\d+)\x00")  # its type is a string literal
_ROLE_DEFINITION_TYPE = "microsoft.authorization/roledefinitions@"
_ACTIONS_KEY = re.compile(r"(?<![\w$.])actions\s*:\s*")
_ESCAPES = {"\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t", "$": "$"}


def bicep_role_actions(path: str | Path, role: str | None = None) -> list[str]:
    """The `actions` of the custom role definition `role` (its Bicep symbolic name) in the file at
    `path`; without `role`, of every role definition there, in file order, without repeats."""
    tokens = _tokens(Path(path).read_text(encoding="utf-8"))
    text = "".join(
        value if kind == "code" else _placeholder(index) for index, (kind, value) in enumerate(tokens)
    )
    strings = {index: value for index, (kind, value) in enumerate(tokens) if kind == "string"}
    definitions = [
        (m.group(1), m.end())
        for m in _RESOURCE.finditer(text)
        if strings[int(m.group(2))].lower().startswith(_ROLE_DEFINITION_TYPE)
    ]
    if role is not None:
        definitions = [(name, end) for name, end in definitions if name == role]
        if not definitions:
            raise ValueError(f"{path}: no role definition resource named {role}")
    if not definitions:
        raise ValueError(f"{path}: no Microsoft.Authorization/roleDefinitions resource")
    found: dict[str, None] = {}
    for name, end in definitions:
        body = _balanced(text, text.index("{", end), f"{path}: {name}")
        keys = list(_ACTIONS_KEY.finditer(body))
        if not keys:
            raise ValueError(f"{path}: {name} has no actions")
        for key in keys:
            for action in _array(text, body, key.end(), strings, f"{path}: {name}"):
                found.setdefault(action, None)
    return list(found)


def bicep_granted_actions(path: str | Path) -> list[str]:
    """Every custom role's actions plus the actions of the built-in roles the file names by id (the
    roles it assigns: Reader's `*/read`), without repeats."""
    text = Path(path).read_text(encoding="utf-8")
    granted = dict.fromkeys(bicep_role_actions(path))
    for role_id, actions in BUILTIN_ROLE_ACTIONS.items():
        if role_id in text.lower():
            granted.update(dict.fromkeys(actions))
    return list(granted)


def _placeholder(index: int) -> str:
    return f"\x00{index}\x00"


def _tokens(source: str) -> list[tuple[str, str]]:
    """The source as ("code", text) and ("string", decoded value) runs, comments dropped."""
    tokens: list[tuple[str, str]] = []
    code: list[str] = []
    i = 0
    while i < len(source):
        if source.startswith("//", i):
            end = source.find("\n", i)
            i = len(source) if end < 0 else end
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated /* comment")
            code.append(" ")
            i = end + 2
        elif source.startswith("'''", i):
            end = source.find("'''", i + 3)
            if end < 0:
                raise ValueError("unterminated ''' string")
            tokens.append(("code", "".join(code)))
            code = []
            tokens.append(("string", source[i + 3 : end]))
            i = end + 3
        elif source[i] == "'":
            value: list[str] = []
            i += 1
            while True:
                if i >= len(source) or source[i] == "\n":
                    raise ValueError("unterminated string")
                if source[i] == "\\":
                    escaped = source[i + 1 : i + 2]
                    if escaped not in _ESCAPES:
                        raise ValueError(f"unknown escape \\{escaped} in a string")
                    value.append(_ESCAPES[escaped])
                    i += 2
                elif source[i] == "'":
                    i += 1
                    break
                else:
                    if source.startswith("${", i):
                        value.append("\x01")  # an interpolation: not a literal
                    value.append(source[i])
                    i += 1
            tokens.append(("code", "".join(code)))
            code = []
            tokens.append(("string", "".join(value)))
        else:
            code.append(source[i])
            i += 1
    tokens.append(("code", "".join(code)))
    return tokens


def _balanced(text: str, start: int, where: str) -> str:
    """The text between the bracket at `start` and the one that closes it."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack: list[str] = []
    for index in range(start, len(text)):
        char = text[index]
        if char in pairs:
            stack.append(pairs[char])
        elif char in pairs.values():
            if not stack or stack.pop() != char:
                raise ValueError(f"{where}: unbalanced {char!r}")
            if not stack:
                return text[start + 1 : index]
    raise ValueError(f"{where}: {text[start]!r} is never closed")


def _array(text: str, body: str, at: int, strings: dict[int, str], where: str) -> list[str]:
    """The string literals of the array value starting at `body[at:]` (inline, or a `var`)."""
    rest = body[at:]
    if rest.startswith("["):
        inner = _balanced(rest, 0, where)
    else:
        name = re.match(r"\w+", rest)
        if name is None:
            raise ValueError(f"{where}: actions is neither an array nor a variable")
        declared = re.search(rf"\bvar\s+{name.group(0)}\s*=\s*\[", text)
        if declared is None:
            raise ValueError(f"{where}: actions names {name.group(0)}, which is not a var holding an array")
        inner = _balanced(text, declared.end() - 1, where)
    actions = []
    for element in (part.strip() for part in re.split(r"[,\n]", inner)):
        if not element:
            continue
        literal = re.fullmatch(r"\x00(\d+)\x00", element)
        if literal is None:
            raise ValueError(f"{where}: an action that is not a string literal: {element!r}")
        value = strings[int(literal.group(1))]
        if "\x01" in value:
            raise ValueError(f"{where}: an interpolated action cannot be read: {value!r}")
        actions.append(value)
    return actions
