"""InfluxDB's 1.x Python client (`influxdb`) writing line protocol and reading it with InfluxQL.

Usage: influxql.py URL TOKEN DB. The server must map database DB (through a DBRP mapping) to a
bucket that TOKEN may read and write; the token is the 1.x password, as InfluxDB 2.x takes it.
Checks `ping`, `write_points` at two precisions, raw and aggregated SELECTs read back through
`ResultSet.get_points`, the SHOW statements behind `get_list_database`/`get_list_measurements`,
several statements in one query, `epoch`, and the errors of a syntax error and of an unsupported
statement; exits non-zero on the first mismatch.
"""

import sys
from urllib.parse import urlparse

from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

T0 = 1_700_000_000  # seconds


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def main(url, token, db):
    u = urlparse(url)
    client = InfluxDBClient(
        host=u.hostname, port=u.port, username="ironflux", password=token, database=db
    )
    check(client.ping() != "", "ping answers a version")

    hosts = ["a", "b", "a", "b", "a", "b"]
    points = [
        {
            "measurement": "py_cpu",
            "tags": {"host": host},
            "time": T0 + i,
            "fields": {"usage": 10.0 * (i + 1), "cores": i + 2, "ok": i % 2 == 0, "note": f"n{i}"},
        }
        for i, host in enumerate(hosts)
    ]
    check(client.write_points(points, time_precision="s"), "write_points, seconds")
    ms_points = [
        {"measurement": "py_mem", "tags": {"host": "a"}, "time": T0 * 1000 + 250, "fields": {"used": 7}}
    ]
    check(client.write_points(ms_points, time_precision="ms"), "write_points, milliseconds")

    where = f"time >= {T0}s AND time < {T0 + 6}s"

    # Raw select of every field of one series, times as epoch seconds.
    rs = client.query(f"SELECT * FROM py_cpu WHERE host = 'a' AND {where}", epoch="s")
    got = list(rs.get_points(measurement="py_cpu"))
    check(len(got) == 3, f"raw select returns host a's 3 rows: {got}")
    for row, i in zip(got, [0, 2, 4]):
        check(row["time"] == T0 + i, f"row {i} time {row['time']}")
        check(row["usage"] == 10.0 * (i + 1), f"row {i} float field {row['usage']}")
        check(row["cores"] == i + 2 and isinstance(row["cores"], int), f"row {i} integer field")
        check(row["ok"] is True, f"row {i} boolean field")
        check(row["note"] == f"n{i}", f"row {i} string field")
        check(row["host"] == "a", f"row {i} tag column")

    # RFC 3339 times when no epoch is asked for.
    rs = client.query(f"SELECT usage FROM py_cpu WHERE {where} LIMIT 1")
    first = list(rs.get_points())[0]
    check(first["time"] == "2023-11-14T22:13:20Z", f"RFC 3339 time {first['time']}")

    # Aggregates grouped by tag, computed here independently.
    rs = client.query(
        f"SELECT mean(usage) AS m, count(usage), max(cores) FROM py_cpu WHERE {where} GROUP BY host"
    )
    for host in ["a", "b"]:
        mine = [10.0 * (i + 1) for i, h in enumerate(hosts) if h == host]
        cores = [i + 2 for i, h in enumerate(hosts) if h == host]
        rows = list(rs.get_points(tags={"host": host}))
        check(len(rows) == 1, f"one aggregate row for host {host}: {rows}")
        check(abs(rows[0]["m"] - sum(mine) / len(mine)) < 1e-9, f"mean for host {host}")
        check(rows[0]["count"] == len(mine), f"count for host {host}")
        check(rows[0]["max"] == max(cores), f"max for host {host}")

    # Windows of two seconds, aligned to the epoch.
    rs = client.query(
        f"SELECT sum(usage) FROM py_cpu WHERE {where} GROUP BY time(2s) fill(none)", epoch="s"
    )
    got = [(r["time"], r["sum"]) for r in rs.get_points()]
    want = []
    for start in range(T0, T0 + 6, 2):
        want.append((start, sum(10.0 * (i + 1) for i in range(6) if start <= T0 + i < start + 2)))
    check(got == want, f"sum per 2s window {got} == {want}")

    # The millisecond write kept its precision.
    rs = client.query(f"SELECT used FROM py_mem WHERE {where}", epoch="ms")
    got = [(r["time"], r["used"]) for r in rs.get_points()]
    check(got == [(T0 * 1000 + 250, 7)], f"millisecond point {got}")

    check({"name": db} in client.get_list_database(), "SHOW DATABASES lists the mapped database")
    names = [m["name"] for m in client.get_list_measurements()]
    check(names == ["py_cpu", "py_mem"], f"SHOW MEASUREMENTS {names}")
    rs = client.query('SHOW TAG VALUES FROM py_cpu WITH KEY = "host"')
    values = [p["value"] for p in rs.get_points()]
    check(values == ["a", "b"], f"SHOW TAG VALUES {values}")
    rs = client.query("SHOW FIELD KEYS FROM py_cpu")
    fields = {p["fieldKey"]: p["fieldType"] for p in rs.get_points()}
    want = {"cores": "integer", "note": "string", "ok": "boolean", "usage": "float"}
    check(fields == want, f"SHOW FIELD KEYS {fields}")

    # Several statements, one result set each.
    both = client.query(f"SELECT count(usage) FROM py_cpu WHERE {where}; SELECT count(used) FROM py_mem WHERE {where}")
    check(len(both) == 2, "two statements, two result sets")
    check(list(both[0].get_points())[0]["count"] == 6, "first statement's count")
    check(list(both[1].get_points())[0]["count"] == 1, "second statement's count")

    try:
        client.query("SELEKT usage FROM py_cpu")
        check(False, "a syntax error must fail")
    except InfluxDBClientError as e:
        check(e.code == 400 and "failed to parse query" in str(e), f"syntax error answers 400: {e}")
    try:
        client.query("SELECT usage INTO other FROM py_cpu")
        check(False, "an unsupported statement must fail")
    except InfluxDBClientError as e:
        check("INTO" in str(e).upper(), f"unsupported clause is named: {e}")
    client.close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: influxql.py URL TOKEN DB")
    main(*sys.argv[1:])
    print("influxql.py: all checks passed")
