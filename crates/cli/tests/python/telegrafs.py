"""InfluxDB's own Python client (`influxdb-client`) managing Telegraf configurations.

Usage: telegrafs.py URL TOKEN ORG_ID. The server must be set up with operator TOKEN and org
ORG_ID. Drives `TelegrafsService` (create, list by org, get as JSON and as TOML, put, delete,
the 404 of a missing config) and `TelegrafPluginsService`; exits non-zero on the first mismatch.
"""

import json
import sys

from influxdb_client import (
    InfluxDBClient,
    TelegrafPluginRequest,
    TelegrafPluginsService,
    TelegrafRequestMetadata,
    TelegrafsService,
)
from influxdb_client.rest import ApiException

CONFIG = """[agent]
  interval = "10s"

[[inputs.cpu]]
  percpu = true

[[outputs.influxdb_v2]]
  urls = ["http://127.0.0.1:8086"]
  token = "$INFLUX_TOKEN"
  organization = "org"
  bucket = "bucket"
"""


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def raw_get(client, telegraf_id, accept):
    """`GET /api/v2/telegrafs/{id}` with an explicit `Accept`: (status, content type, body)."""
    resp = client.api_client.call_api(
        "/api/v2/telegrafs/{telegrafID}",
        "GET",
        {"telegrafID": telegraf_id},
        [],
        {"Accept": accept},
        auth_settings=[],
        _preload_content=False,
        _return_http_data_only=True,
    )
    return resp.status, resp.headers.get("Content-Type"), resp.data.decode()


def main(url, token, org_id):
    with InfluxDBClient(url=url, token=token) as client:
        svc = TelegrafsService(client.api_client)
        check(svc.get_telegrafs(org_id=org_id).configurations == [], "no configs at first")

        created = svc.post_telegrafs(
            telegraf_plugin_request=TelegrafPluginRequest(
                name="py agent", description="from python", config=CONFIG, org_id=org_id
            )
        )
        check(len(created.id) == 16 and created.org_id == org_id, f"created {created.id}")
        check(created.name == "py agent" and created.config == CONFIG, "name and config kept")
        check(created.metadata.buckets == ["bucket"], f"buckets from TOML: {created.metadata}")
        check(created.links["self"] == f"/api/v2/telegrafs/{created.id}", "self link")

        listed = svc.get_telegrafs(org_id=org_id).configurations
        check([c.id for c in listed] == [created.id], "listed by org")

        # The generated client asks for JSON; its raw answer is the record.
        resp = svc.get_telegrafs_id_with_http_info(created.id, _preload_content=False)
        body = json.loads(resp[0].data if isinstance(resp, tuple) else resp.data)
        check(body["id"] == created.id and body["config"] == CONFIG, "get as JSON")

        status, ctype, text = raw_get(client, created.id, "application/toml")
        check(status == 200 and ctype == "application/toml; charset=utf-8", f"TOML: {ctype}")
        check(text == CONFIG, "TOML body is the config")

        updated = svc.put_telegrafs_id(
            created.id,
            telegraf_plugin_request=TelegrafPluginRequest(
                name="renamed",
                config="[[inputs.mem]]\n",
                org_id=org_id,
                metadata=TelegrafRequestMetadata(buckets=["other"]),
            ),
        )
        check(updated.name == "renamed" and updated.description is None, "put replaces")
        check(updated.metadata.buckets == ["other"], "put keeps given metadata")
        status, _, text = raw_get(client, created.id, "application/toml")
        check(text == "[[inputs.mem]]\n", "TOML after put")

        # The client models a plugin's `config` as an object where InfluxDB (and its API
        # contract) answer a TOML string, so the answer is read raw.
        resp = TelegrafPluginsService(client.api_client).get_telegraf_plugins(
            type="bundle", _preload_content=False
        )
        plugins = json.loads(resp.data)
        check(plugins["plugins"][0]["name"] == "System Bundle", "bundle catalogue")
        check("[[inputs.cpu]]" in plugins["plugins"][0]["config"], "bundle config is TOML")

        svc.delete_telegrafs_id(created.id)
        try:
            svc.get_telegrafs_id_with_http_info(created.id, _preload_content=False)
            check(False, "deleted config is gone")
        except ApiException as e:
            check(e.status == 404, f"404 after delete: {e.status}")
        check(svc.get_telegrafs(org_id=org_id).configurations == [], "none left")

    print("telegrafs.py: all checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
