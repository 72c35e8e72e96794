"""Checks manifest documents against the JSON Schema printed by `sendpath schema`.

Usage: check_schema.py SCHEMA VALID_DIR INVALID_DIR
Prints {"valid": {doc: ok}, "invalid": {file: ok}}: each document of VALID_DIR and each
file of INVALID_DIR (one document each) with whether the schema accepted it.
"""
import json
import pathlib
import sys

import jsonschema
import yaml


class StringLoader(yaml.SafeLoader):
    """Reads every scalar as a string, as Sendpath does, except plain integers."""


def _no_implicit_types(loader):
    for first, resolvers in list(loader.yaml_implicit_resolvers.items()):
        loader.yaml_implicit_resolvers[first] = [
            (tag, regexp) for tag, regexp in resolvers if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:null")
        ]


StringLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_no_implicit_types(StringLoader)


def documents(path):
    with open(path, encoding="utf-8") as handle:
        return [d for d in yaml.load_all(handle, Loader=StringLoader) if d is not None]


def main():
    schema = json.loads(pathlib.Path(sys.argv[1]).read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    report = {"valid": {}, "invalid": {}}
    for path in sorted(pathlib.Path(sys.argv[2]).rglob("*.yaml")):
        for index, doc in enumerate(documents(path)):
            report["valid"][f"{path.name}#{index}"] = validator.is_valid(doc)
    for path in sorted(pathlib.Path(sys.argv[3]).rglob("*.yaml")):
        docs = documents(path)
        report["invalid"][path.name] = all(validator.is_valid(doc) for doc in docs)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
