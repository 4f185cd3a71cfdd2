"""Reads Parquet files with pyarrow (Arrow C++, the reader under pandas) and prints, as JSON, each file's
top-level columns with their Parquet field ids and every value as text: scalars cast to string by Arrow
itself (decimals exact, timestamps to the microsecond), binary values as hex, lists as JSON arrays."""
import json
import sys

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:
    sys.exit('pyarrow is not installed: pip install pyarrow (test/support/pyarrow_table.py reads Parquet with it)')

out = []
for path in sys.argv[1:]:
    table = pq.read_table(path)
    columns = []
    for i, field in enumerate(table.schema):
        meta = field.metadata or {}
        field_id = int(meta[b'PARQUET:field_id']) if b'PARQUET:field_id' in meta else None
        column = table.column(i)
        if table.num_rows == 0:
            values = []
        elif pa.types.is_list(field.type):
            values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
        elif pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type) or pa.types.is_fixed_size_binary(field.type):
            values = [None if v is None else v.hex() for v in column.to_pylist()]
        else:
            values = column.cast(pa.string()).to_pylist()
        columns.append({'name': field.name, 'fieldId': field_id, 'type': str(field.type), 'values': values})
    out.append({'path': path, 'rows': table.num_rows, 'columns': columns})
print(json.dumps(out))
