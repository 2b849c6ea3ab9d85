"""InfluxDB's own Python client (`influxdb-client`) managing org secrets and variables.

Usage: secrets_variables.py URL TOKEN ORG ORG_ID. The server must be set up with operator TOKEN
and org ORG (ID ORG_ID). Drives `SecretsService` (patch, list, delete one, delete several),
`secrets.get` through the query API, and `VariablesService` (create each argument type, list,
get, patch, put, delete, the conflict of a duplicate name); exits non-zero on the first mismatch.
"""

import sys

from influxdb_client import (
    ConstantVariableProperties,
    InfluxDBClient,
    MapVariableProperties,
    QueryVariableProperties,
    QueryVariablePropertiesValues,
    SecretKeys,
    SecretsService,
    Variable,
    VariablesService,
)
from influxdb_client.rest import ApiException


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def args(v):
    """A variable's `arguments` as a dict (the client leaves them undecoded)."""
    a = v.arguments
    return a if isinstance(a, dict) else a.to_dict()


def secrets(client, org, org_id):
    svc = SecretsService(client.api_client)
    check(svc.get_orgs_id_secrets(org_id=org_id).secrets == [], "no secrets at first")
    svc.patch_orgs_id_secrets(org_id=org_id, request_body={"pw": "hunter2", "a": "1", "b": "2"})
    svc.patch_orgs_id_secrets(org_id=org_id, request_body={"pw": "swordfish"})
    keys = svc.get_orgs_id_secrets(org_id=org_id)
    check(sorted(keys.secrets) == ["a", "b", "pw"], f"keys listed: {keys.secrets}")
    svc.delete_orgs_id_secrets_id(org_id=org_id, secret_id="a")
    svc.post_orgs_id_secrets(org_id=org_id, secret_keys=SecretKeys(secrets=["b"]))
    check(svc.get_orgs_id_secrets(org_id=org_id).secrets == ["pw"], "deleted one and several")

    script = (
        'import "array"\nimport "influxdata/influxdb/secrets"\n'
        'array.from(rows: [{v: secrets.get(key: "pw")}])'
    )
    tables = client.query_api().query(script, org=org)
    values = [r.values["v"] for t in tables for r in t.records]
    check(values == ["swordfish"], f"secrets.get in a query: {values}")
    try:
        client.query_api().query(script.replace('"pw"', '"nope"'), org=org)
        check(False, "a missing secret fails the query")
    except ApiException as e:
        body = e.body.decode() if isinstance(e.body, bytes) else str(e.body)
        check(e.status == 400 and "secret not found" in body, "a missing secret fails the query")


def variables(client, org_id):
    svc = VariablesService(client.api_client)
    host = svc.post_variables(
        variable=Variable(
            org_id=org_id,
            name="host",
            description="hosts",
            selected=["h1"],
            arguments=ConstantVariableProperties(type="constant", values=["h1", "h2"]),
        )
    )
    check(host.id and host.name == "host" and host.selected == ["h1"], "constant variable created")
    check(args(host) == {"type": "constant", "values": ["h1", "h2"]}, f"constant: {args(host)}")
    region = svc.post_variables(
        variable=Variable(
            org_id=org_id,
            name="region",
            arguments=MapVariableProperties(type="map", values={"Europe": "eu", "Asia": "ap"}),
        )
    )
    check(args(region)["values"] == {"Asia": "ap", "Europe": "eu"}, "map variable created")
    query = svc.post_variables(
        variable=Variable(
            org_id=org_id,
            name="buckets",
            arguments=QueryVariableProperties(
                type="query",
                values=QueryVariablePropertiesValues(query="buckets()", language="flux"),
            ),
        )
    )
    check(
        args(query)["values"] == {"query": "buckets()", "language": "flux"},
        "query variable created",
    )

    listed = svc.get_variables(org_id=org_id).variables
    check(sorted(v.name for v in listed) == ["buckets", "host", "region"], "variables listed")
    check(svc.get_variables_id(variable_id=region.id).name == "region", "variable read")

    try:
        svc.post_variables(
            variable=Variable(
                org_id=org_id,
                name="HOST",
                arguments=ConstantVariableProperties(type="constant", values=[]),
            )
        )
        check(False, "duplicate name conflicts")
    except ApiException as e:
        check(e.status == 422, f"duplicate name conflicts: {e.status}")

    host.description = "servers"
    host.selected = ["h2"]
    patched = svc.patch_variables_id(variable_id=host.id, variable=host)
    check(patched.description == "servers" and patched.selected == ["h2"], "variable patched")
    replaced = svc.put_variables_id(
        variable_id=query.id,
        variable=Variable(
            org_id=org_id,
            name="bucket_names",
            arguments=ConstantVariableProperties(type="constant", values=["bucket"]),
        ),
    )
    check(replaced.id == query.id and replaced.name == "bucket_names", "variable replaced")
    check(args(replaced)["values"] == ["bucket"], "replaced arguments")

    svc.delete_variables_id(variable_id=host.id)
    try:
        svc.get_variables_id(variable_id=host.id)
        check(False, "deleted variable is gone")
    except ApiException as e:
        check(e.status == 404, "deleted variable is gone")
    names = sorted(v.name for v in svc.get_variables(org_id=org_id).variables)
    check(names == ["bucket_names", "region"], f"remaining variables: {names}")


def main(url, token, org, org_id):
    with InfluxDBClient(url=url, token=token, org=org) as client:
        secrets(client, org, org_id)
        variables(client, org_id)
    print("secrets_variables.py: all checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:5])
