"""Validates a SARIF log against the official OASIS SARIF 2.1.0 JSON Schema.

Usage: check_sarif.py SCHEMA LOG
Prints a JSON array of the schema violations (empty when the log is valid), each as
"path/in/log: message", and exits 0 either way; exits 2 when a file cannot be read.
"""
import json
import pathlib
import sys

import jsonschema


def main():
    schema = json.loads(pathlib.Path(sys.argv[1]).read_text(encoding="utf-8"))
    log = json.loads(pathlib.Path(sys.argv[2]).read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = [
        "/".join(str(part) for part in error.absolute_path) + ": " + error.message
        for error in validator.iter_errors(log)
    ]
    print(json.dumps(errors))


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError) as error:
        print(error, file=sys.stderr)
        sys.exit(2)
