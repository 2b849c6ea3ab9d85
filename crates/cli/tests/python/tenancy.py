"""InfluxDB's own Python client (`influxdb-client`) against an ironflux server.

Usage: tenancy.py URL TOKEN ORG. The server must be set up with operator TOKEN and org ORG.
Exercises ping, health, orgs, buckets (create/find/update/delete, paging), labels (and a
bucket's labels), users and authorizations through the client's APIs; exits non-zero on the
first mismatch.
"""

import sys

from influxdb_client import (
    BucketRetentionRules,
    BucketsService,
    InfluxDBClient,
    LabelMapping,
    Permission,
    PermissionResource,
)
from influxdb_client.rest import ApiException


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def main(url, token, org_name):
    with InfluxDBClient(url=url, token=token, org=org_name) as client:
        # Ping and health.
        check(client.ping(), "ping")
        version = client.version()
        check(version.startswith("v2."), f"version header {version}")
        health = client.health()
        check(health.status == "pass" and health.name == "influxdb", "health")

        ready = client.ready()
        check(ready.status == "ready", "ready")

        # Orgs.
        orgs_api = client.organizations_api()
        orgs = orgs_api.find_organizations()
        org = next((o for o in orgs if o.name == org_name), None)
        check(org is not None, f"org {org_name} listed")
        other = orgs_api.create_organization(name="py-org")
        check(other.name == "py-org", "create org")
        check(orgs_api.find_organization(other.id).name == "py-org", "find org by id")
        orgs_api.delete_organization(other.id)
        names = [o.name for o in orgs_api.find_organizations()]
        check("py-org" not in names, "org deleted")

        # Buckets: create, find by id and name, update, page, delete.
        buckets_api = client.buckets_api()
        created = []
        for i in range(5):
            b = buckets_api.create_bucket(
                bucket_name=f"py-bucket-{i}",
                retention_rules=BucketRetentionRules(type="expire", every_seconds=3600 * (i + 1)),
                org_id=org.id,
                description=f"bucket {i}",
            )
            created.append(b)
        check(created[0].retention_rules[0].every_seconds == 3600, "bucket retention")
        check(created[0].type == "user", "bucket type")
        found = buckets_api.find_bucket_by_id(created[1].id)
        check(found.name == "py-bucket-1", "find bucket by id")
        found = buckets_api.find_bucket_by_name("py-bucket-2")
        check(found is not None and found.id == created[2].id, "find bucket by name")
        found.description = "changed"
        found.retention_rules = [BucketRetentionRules(type="expire", every_seconds=7200)]
        updated = buckets_api.update_bucket(bucket=found)
        check(updated.description == "changed", "update bucket description")
        check(updated.retention_rules[0].every_seconds == 7200, "update bucket retention")

        all_buckets = buckets_api.find_buckets(org_id=org.id, limit=100).buckets
        ids = [b.id for b in all_buckets]
        check(ids == sorted(ids), "buckets in ID order")
        names = {b.name for b in all_buckets}
        check({"_monitoring", "_tasks"} <= names, "system buckets listed")
        page = buckets_api.find_buckets(org_id=org.id, offset=2, limit=3).buckets
        check([b.id for b in page] == ids[2:5], "paging with offset and limit")
        after = buckets_api.find_buckets(org_id=org.id, after=ids[1], limit=2).buckets
        check([b.id for b in after] == ids[2:4], "paging with after")
        iterated = [b.id for b in buckets_api.find_buckets_iter(org_id=org.id, limit=2)]
        check(iterated == ids, "find_buckets_iter walks every page")

        # Labels, and the labels of a bucket.
        labels_api = client.labels_api()
        label = labels_api.create_label(
            name="py-label", org_id=org.id, properties={"color": "#ff0000"}
        )
        check(label.name == "py-label" and label.properties == {"color": "#ff0000"}, "create label")
        check(labels_api.find_label_by_id(label.id).name == "py-label", "find label by id")
        check(
            [x.id for x in labels_api.find_label_by_org(org.id)] == [label.id],
            "labels of the org",
        )
        label.properties = {"color": "#00ff00", "description": "green"}
        label = labels_api.update_label(label)
        check(label.properties["color"] == "#00ff00", "update label properties")
        clone = labels_api.clone_label(cloned_name="py-label-2", label=label)
        check(clone.id != label.id and clone.properties == label.properties, "clone label")
        bucket_service = BucketsService(client.api_client)
        bucket_service.post_buckets_id_labels(
            created[0].id, LabelMapping(label_id=label.id)
        )
        of_bucket = bucket_service.get_buckets_id_labels(created[0].id).labels
        check([x.id for x in of_bucket] == [label.id], "label added to a bucket")
        try:
            labels_api.create_label(name="py-label", org_id=org.id, properties={})
            check(False, "duplicate label name refused")
        except ApiException as e:
            check(e.status == 422, "duplicate label name refused")
        bucket_service.delete_buckets_id_labels_id(created[0].id, label.id)
        check(bucket_service.get_buckets_id_labels(created[0].id).labels == [], "label taken off")
        labels_api.delete_label(label)
        labels_api.delete_label(clone)
        check(labels_api.find_labels() == [], "labels deleted")

        for b in created:
            buckets_api.delete_bucket(b)
        check(buckets_api.find_bucket_by_name("py-bucket-0") is None, "bucket deleted")
        try:
            buckets_api.find_bucket_by_id(created[0].id)
            check(False, "deleted bucket is 404")
        except ApiException as e:
            check(e.status == 404, "deleted bucket is 404")

        # Users.
        users_api = client.users_api()
        user = users_api.create_user(name="py-user")
        check(user.name == "py-user" and user.status == "active", "create user")
        listed = [u.name for u in users_api.find_users().users]
        check("py-user" in listed, "user listed")
        me = users_api.me()
        check(me.name is not None, "me")
        users_api.delete_user(user)
        listed = [u.name for u in users_api.find_users().users]
        check("py-user" not in listed, "user deleted")

        # Authorizations.
        auth_api = client.authorizations_api()
        perm = Permission(
            action="read", resource=PermissionResource(org_id=org.id, type="buckets")
        )
        auth = auth_api.create_authorization(org_id=org.id, permissions=[perm])
        check(auth.token and auth.status == "active", "create authorization")
        check(auth.permissions[0].resource.type == "buckets", "authorization permissions")
        listed = [a.id for a in auth_api.find_authorizations()]
        check(auth.id in listed, "authorization listed")
        check(auth_api.find_authorization_by_id(auth.id).id == auth.id, "find authorization")
        by_org = auth_api.find_authorizations_by_org_id(org.id)
        check(auth.id in [a.id for a in by_org], "authorizations by org")
        auth.status = "inactive"
        auth = auth_api.update_authorization(auth)
        check(auth.status == "inactive", "deactivate authorization")
        auth_api.delete_authorization(auth)
        listed = [a.id for a in auth_api.find_authorizations()]
        check(auth.id not in listed, "authorization deleted")

    # A bad token is refused.
    with InfluxDBClient(url=url, token="bad-token", org=org_name) as client:
        try:
            client.organizations_api().find_organizations()
            check(False, "bad token refused")
        except ApiException as e:
            check(e.status == 401, "bad token refused")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: tenancy.py URL TOKEN ORG")
    main(sys.argv[1], sys.argv[2], sys.argv[3])
    print("tenancy.py: all checks passed")
