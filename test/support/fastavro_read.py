"""
An independent reading of Avro object container files with fastavro (its own Avro implementation, C-accelerated;
not avsc), for tests: per file, the header metadata, the writer's schema as fastavro parsed it from the header, and
every record.

Usage: python3 fastavro_read.py FILE...   -> one JSON array on stdout, one object per file:
  {"codec": str, "metadata": {key: str}, "schema": <fastavro's parsed writer schema>, "records": [...]}

Values are written so that JSON loses nothing and the TypeScript side can tell the types apart: ints beyond 2^53
as {"$long": "<decimal>"}, bytes and fixed as {"$bytes": "<hex>"}, dates as {"$date": <days since 1970-01-01>},
timestamps as {"$timestamp_us": <microseconds since 1970-01-01T00:00Z>}, decimals as {"$decimal": "<str>"}.
"""
import datetime
import decimal
import json
import sys

try:
    import fastavro
except ImportError:
    sys.exit("fastavro is not installed: pip install fastavro (test/support/fastavro_read.py needs it)")

SAFE = 2**53 - 1
EPOCH_DATE = datetime.date(1970, 1, 1)
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def encode(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if -SAFE <= v <= SAFE else {"$long": str(v)}
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": bytes(v).hex()}
    if isinstance(v, datetime.datetime):
        aware = v if v.tzinfo is not None else v.replace(tzinfo=datetime.timezone.utc)
        return {"$timestamp_us": (aware - EPOCH) // datetime.timedelta(microseconds=1)}
    if isinstance(v, datetime.date):
        return {"$date": (v - EPOCH_DATE).days}
    if isinstance(v, decimal.Decimal):
        return {"$decimal": str(v)}
    if isinstance(v, dict):
        return {k: encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    raise TypeError(f"no JSON form for a {type(v).__name__}")


def read(path):
    with open(path, "rb") as f:
        reader = fastavro.reader(f)
        records = [encode(r) for r in reader]
        metadata = dict(reader.metadata)
        # Parse the header's schema again on its own: fastavro refuses an invalid one (bad names, unknown or
        # duplicate named types, bad defaults).
        fastavro.parse_schema(json.loads(metadata["avro.schema"]))
        return {"codec": reader.codec, "metadata": metadata, "schema": reader.writer_schema, "records": records}


json.dump([read(p) for p in sys.argv[1:]], sys.stdout)
