"""Validates a SARIF log against the official OASIS SARIF 2.1.0 JSON Schema.

Usage: check_sarif.py SCHEMA LOG
The "uri" and "uri-reference" formats are checked against RFC 3986's characters.
Prints a JSON array of the schema violations (empty when the log is valid), each as
"path/in/log: message", and exits 0 either way; exits 2 when a file cannot be read.
"""
import json
import pathlib
import re
import sys

import jsonschema

# The schema's "uri" and "uri-reference" formats (RFC 3986). jsonschema checks them only
# when the optional rfc3987 package is installed, and skips them silently otherwise, so the
# grammar's character rules are checked here: ASCII only, no space, '%' only as %XX.
_URI_CHARACTERS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def _uri_reference(value):
    return not isinstance(value, str) or _URI_CHARACTERS.fullmatch(value) is not None


def _uri(value):
    return not isinstance(value, str) or (_uri_reference(value) and _SCHEME.match(value) is not None)


def main():
    schema = json.loads(pathlib.Path(sys.argv[1]).read_text(encoding="utf-8"))
    log = json.loads(pathlib.Path(sys.argv[2]).read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    formats = jsonschema.FormatChecker()
    formats.checks("uri")(_uri)
    formats.checks("uri-reference")(_uri_reference)
    validator = validator_class(schema, format_checker=formats)
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
