"""
An independent reading of a Parquet file with pyarrow (Arrow C++), for tests: per top-level column, what
pyarrow.compute says of its values (count, NULLs, NaNs, min and max over the non-NULL, non-NaN values), and
per row group and column chunk, what pyarrow reads from the footer.

Usage: python3 pyarrow_oracle.py FILE   -> one JSON document on stdout (see pyarrow-oracle.ts for its shape).

Values are written so that JSON loses nothing: integers (ints, date days, timestamp microseconds, the
unscaled value of a decimal) as decimal strings, floats as the hex of their IEEE 754 double bits
(big-endian, so -0.0, NaN and infinities survive), strings and binaries as the hex of their bytes.
"""
import json
import math
import struct
import sys

try:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
except ImportError:
    sys.exit("pyarrow is not installed: pip install pyarrow (test/support/pyarrow_oracle.py needs it)")


def double_hex(v):
    return struct.pack(">d", float(v)).hex()


def unscaled(d, scale):
    """The unscaled integer of a decimal.Decimal at `scale`, exactly (no context rounding)."""
    sign, digits, exponent = d.as_tuple()
    n = int("".join(map(str, digits)) or "0")
    shift = exponent + scale
    n = n * 10**shift if shift >= 0 else n // 10 ** (-shift)
    return -n if sign else n


def encode(kind, v, scale=0):
    if v is None:
        return None
    if kind == "int":
        return str(int(v))
    if kind == "decimal":
        return str(unscaled(v, scale))
    if kind == "float":
        return double_hex(v)
    if kind == "bool":
        return bool(v)
    if kind == "bytes":
        return (v.encode("utf-8") if isinstance(v, str) else bytes(v)).hex()
    raise ValueError(kind)


def column_facts(col):
    t = col.type
    out = {"arrow_type": str(t), "rows": len(col), "null_count": col.null_count}
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        out["kind"] = "list"
        return out
    values = col
    scale = 0
    if pa.types.is_floating(t):
        kind = "float"
        nan = pc.is_nan(col)
        out["nan_count"] = int(pc.sum(pc.cast(nan, pa.int64())).as_py() or 0)
        # NULL mask entries drop the row too: what is left is every non-NULL, non-NaN value.
        values = pc.filter(col, pc.invert(nan))
        plain = values.to_pylist()
        out["has_negative_zero"] = any(v == 0 and math.copysign(1.0, v) < 0 for v in plain)
        out["has_positive_zero"] = any(v == 0 and math.copysign(1.0, v) > 0 for v in plain)
    elif pa.types.is_integer(t):
        kind = "int"
    elif pa.types.is_date32(t):
        kind = "int"
        values = pc.cast(col, pa.int32())
    elif pa.types.is_timestamp(t):
        if t.unit != "us":
            raise ValueError(f"unexpected timestamp unit {t.unit}")
        kind = "int"
        values = pc.cast(col, pa.int64())
    elif pa.types.is_decimal(t):
        kind = "decimal"
        scale = t.scale
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        kind = "bytes"
    elif pa.types.is_boolean(t):
        kind = "bool"
    else:
        raise ValueError(f"no oracle for arrow type {t}")
    mm = pc.min_max(values, skip_nulls=True).as_py()
    out.update(kind=kind, min=encode(kind, mm["min"], scale), max=encode(kind, mm["max"], scale))
    return out


def raw(kind, v):
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return double_hex(v)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    return str(v)


def chunk_facts(chunk):
    stats = chunk.statistics if chunk.is_stats_set else None
    has = stats is not None and stats.has_min_max
    return {
        "path": chunk.path_in_schema,
        "physical_type": chunk.physical_type,
        "num_values": chunk.num_values,
        "total_compressed_size": chunk.total_compressed_size,
        "data_page_offset": chunk.data_page_offset,
        "dictionary_page_offset": chunk.dictionary_page_offset if chunk.has_dictionary_page else None,
        "null_count": stats.null_count if stats is not None and stats.has_null_count else None,
        "has_min_max": bool(has),
        "min_raw": raw(chunk.physical_type, stats.min_raw) if has else None,
        "max_raw": raw(chunk.physical_type, stats.max_raw) if has else None,
    }


def main(path):
    table = pq.read_table(path)
    meta = pq.ParquetFile(path).metadata
    doc = {
        "pyarrow": pa.__version__,
        "num_rows": table.num_rows,
        "columns": {name: column_facts(table.column(name)) for name in table.column_names},
        "row_groups": [
            {
                "num_rows": meta.row_group(g).num_rows,
                "columns": [chunk_facts(meta.row_group(g).column(c)) for c in range(meta.row_group(g).num_columns)],
            }
            for g in range(meta.num_row_groups)
        ],
    }
    json.dump(doc, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: pyarrow_oracle.py FILE.parquet")
    main(sys.argv[1])
