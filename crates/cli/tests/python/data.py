"""InfluxDB's own Python client (`influxdb-client`) writing, querying and deleting data.

Usage: data.py URL TOKEN ORG BUCKET. The server must be set up with operator TOKEN, org ORG and
bucket BUCKET. Writes points (Point objects and line protocol, several precisions), reads them
back with `query`, `query_csv`, `query_stream`, `query_data_frame` (pandas) and query
parameters, checks an aggregate, the errors of a bad write and of an unsupported function, and a
delete; exits non-zero on the first mismatch.
"""

import sys
from datetime import datetime, timezone

import pandas as pd
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

T0 = 1_700_000_000  # seconds


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def main(url, token, org, bucket):
    with InfluxDBClient(url=url, token=token, org=org) as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        # Point objects with nanosecond times, all four field types.
        points = [
            Point("py_cpu")
            .tag("host", host)
            .field("usage", 10.5 * (i + 1))
            .field("cores", i + 2)
            .field("ok", i % 2 == 0)
            .field("note", f"n{i}")
            .time((T0 + i) * 1_000_000_000, WritePrecision.NS)
            for i, host in enumerate(["a", "b", "a", "b"])
        ]
        write.write(bucket=bucket, org=org, record=points)
        # Line protocol in seconds, and a record dictionary in milliseconds.
        write.write(
            bucket=bucket,
            org=org,
            record=["py_mem,host=a used=1i %d" % (T0 + 10), "py_mem,host=a used=2i %d" % (T0 + 11)],
            write_precision=WritePrecision.S,
        )
        write.write(
            bucket=bucket,
            org=org,
            record={"measurement": "py_mem", "tags": {"host": "b"}, "fields": {"used": 3},
                    "time": (T0 + 12) * 1000},
            write_precision=WritePrecision.MS,
        )
        check(True, "writes acknowledged")

        query = client.query_api()
        rng = f"range(start: {T0 - 60}, stop: {T0 + 60})"
        tables = query.query(
            f'from(bucket: "{bucket}") |> {rng} '
            '|> filter(fn: (r) => r._measurement == "py_cpu" and r._field == "usage")'
        )
        check(len(tables) == 2, f"one table per host: {len(tables)}")
        by_host = {t.records[0].values["host"]: [r.get_value() for r in t.records] for t in tables}
        check(by_host == {"a": [10.5, 31.5], "b": [21.0, 42.0]}, f"usage values {by_host}")
        first = tables[0].records[0]
        check(first.get_time() == datetime.fromtimestamp(T0, tz=timezone.utc), "record time")
        check(first.get_measurement() == "py_cpu" and first.get_field() == "usage", "record keys")

        types = {}
        for t in query.query(f'from(bucket: "{bucket}") |> {rng} |> filter(fn: (r) => r._measurement == "py_cpu")'):
            for r in t.records:
                types.setdefault(r.get_field(), type(r.get_value()))
        check(types == {"usage": float, "cores": int, "ok": bool, "note": str}, f"field types {types}")

        rows = list(query.query_csv(
            f'from(bucket: "{bucket}") |> {rng} |> filter(fn: (r) => r._measurement == "py_mem") |> sum()'
        ))
        check(rows[0][0] == "#datatype", "query_csv keeps the annotations")
        header = next(r for r in rows if len(r) > 1 and r[1] == "result")
        data = [dict(zip(header, r)) for r in rows if len(r) > 1 and r[0] == "" and r[1] != "result"]
        sums = {d["host"]: d["_value"] for d in data}
        check(sums == {"a": "3", "b": "3"}, f"query_csv sums {sums}")

        stream = list(query.query_stream(
            f'from(bucket: "{bucket}") |> {rng} |> filter(fn: (r) => r._measurement == "py_mem")'
        ))
        check([r.get_value() for r in stream] == [1, 2, 3], "query_stream records")

        # pandas: one DataFrame over the tables of the same shape, typed columns, UTC times.
        df = query.query_data_frame(
            f'from(bucket: "{bucket}") |> {rng} |> filter(fn: (r) => r._measurement == "py_mem")'
        )
        check(isinstance(df, pd.DataFrame), f"query_data_frame gives one DataFrame: {type(df)}")
        check(list(df.columns) == ["result", "table", "_start", "_stop", "_time", "_value",
                                   "_field", "_measurement", "host"], f"frame columns {list(df.columns)}")
        check(df["_value"].tolist() == [1, 2, 3] and str(df["_value"].dtype) == "int64",
              f"frame values {df['_value'].tolist()} {df['_value'].dtype}")
        check(df["host"].tolist() == ["a", "a", "b"] and df["table"].tolist() == [0, 0, 1],
              f"frame tags and tables {df['host'].tolist()} {df['table'].tolist()}")
        want = pd.to_datetime([(T0 + 10) * 10**9, (T0 + 11) * 10**9, (T0 + 12) * 10**9], utc=True)
        check(list(df["_time"]) == list(want), f"frame times {list(df['_time'])}")
        check(str(df["_time"].dt.tz) == "UTC", f"frame times in UTC {df['_time'].dtype}")
        # A change of column types between tables starts a new frame (series-key order: note
        # then usage for each host), so this is a list of four; an index column.
        frames = query.query_data_frame(
            f'from(bucket: "{bucket}") |> {rng} |> filter(fn: (r) => r._measurement == "py_cpu" '
            'and (r._field == "usage" or r._field == "note"))',
            data_frame_index=["_time"],
        )
        check(isinstance(frames, list) and len(frames) == 4, f"one frame per block: {len(frames)}")
        kinds = [(f["host"].iloc[0], f["_field"].iloc[0], str(f["_value"].dtype)) for f in frames]
        check([k[:2] for k in kinds] == [("a", "note"), ("a", "usage"), ("b", "note"), ("b", "usage")]
              and kinds[1][2] == "float64", f"frame order and types {kinds}")
        usage = pd.concat([frames[1], frames[3]])
        check(usage["_value"].tolist() == [10.5, 31.5, 21.0, 42.0], f"float frames {usage['_value'].tolist()}")
        check(usage.index.name == "_time" and usage.index[0] == pd.Timestamp(T0 * 10**9, tz="UTC"),
              f"frame index {usage.index}")
        notes = pd.concat([frames[0], frames[2]])["_value"].tolist()
        check(notes == ["n0", "n2", "n1", "n3"], f"string frames {notes}")
        means = query.query_data_frame(
            f'from(bucket: "{bucket}") |> {rng} |> filter(fn: (r) => r._measurement == "py_cpu" '
            'and r._field == "usage") |> aggregateWindow(every: 2s, fn: mean, createEmpty: false) '
            '|> group() |> sort(columns: ["_time", "host"])'
        )
        check(means["_value"].tolist() == [10.5, 21.0, 31.5, 42.0], f"windowed frame {means['_value'].tolist()}")
        empty = query.query_data_frame(
            f'from(bucket: "{bucket}") |> {rng} |> filter(fn: (r) => r._measurement == "nothing")'
        )
        check(isinstance(empty, pd.DataFrame) and len(empty) == 0, "empty answer gives an empty frame")

        params = {"p_host": "b", "p_field": "cores"}
        tables = query.query(
            f'from(bucket: "{bucket}") |> {rng} '
            '|> filter(fn: (r) => r.host == p_host and r._field == p_field) |> mean()',
            params=params,
        )
        check(len(tables) == 1 and tables[0].records[0].get_value() == 4.0, "query parameters")

        try:
            write.write(bucket=bucket, org=org, record="py_bad,host=a")
            check(False, "bad line refused")
        except ApiException as e:
            check(e.status == 400, f"bad line refused with 400 ({e.status})")
        try:
            query.query(f'from(bucket: "{bucket}") |> {rng} |> holtWinters(n: 1)')
            check(False, "unsupported function refused")
        except ApiException as e:
            body = e.body.decode() if isinstance(e.body, bytes) else str(e.body)
            check(e.status == 400 and "holtWinters" in body, "unsupported function named")

        client.delete_api().delete(
            datetime.fromtimestamp(T0 - 60, tz=timezone.utc),
            datetime.fromtimestamp(T0 + 60, tz=timezone.utc),
            '_measurement="py_cpu" AND host="a"',
            bucket=bucket,
            org=org,
        )
        hosts = sorted(
            {r.values["host"] for t in query.query(
                f'from(bucket: "{bucket}") |> {rng} |> filter(fn: (r) => r._measurement == "py_cpu")'
            ) for r in t.records}
        )
        check(hosts == ["b"], f"deleted host gone: {hosts}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: data.py URL TOKEN ORG BUCKET")
    main(*sys.argv[1:])
    print("data.py: all checks passed")
