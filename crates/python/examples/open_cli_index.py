"""Open an index written by the `zgq` command line (or the Rust API), search
it, and map its sections with numpy.memmap straight from the file, following
docs/FORMAT.md — no zgq code involved in that part.

    zgq build --base vectors.fvecs --out vectors.zgq
    python crates/python/examples/open_cli_index.py vectors.zgq
"""

import struct
import sys

import numpy as np
import zgq

NAMES = {1: "centroids", 2: "zones", 3: "vectors", 4: "sq8_codes", 5: "labels", 6: "links0",
         7: "upper_offsets", 8: "upper", 9: "sq_min", 10: "sq_step", 11: "pq_codebook",
         12: "blocks", 13: "norms", 14: "centroid_columns", 15: "centroid_norms",
         16: "records", 17: "upper_records", 18: "rotation", 19: "rotated_mean"}
U32_KINDS = {6, 7, 8, 16, 17}


def map_sections(path):
    """The header fields and every section as a read-only numpy.memmap
    (docs/FORMAT.md: a 128-byte header, 32-byte table entries, 64-byte
    aligned little-endian sections)."""
    with open(path, "rb") as f:
        head = f.read(128)
        if head[:8] != b"ZGQINDEX":
            raise SystemExit(f"{path}: not a ZGQ index")
        version, _flags, _header_len, count = struct.unpack_from("<4I", head, 8)
        dim, metric, design, m, m0, zones = struct.unpack_from("<6I", head, 32)
        n, slots = struct.unpack_from("<2Q", head, 56)
        table = f.read(32 * count)
    header = dict(version=version, dim=dim, metric=metric, design=design, zones=zones, n=n, slots=slots)
    sections = {}
    for i in range(count):
        kind, size, offset, length, _crc, _ = struct.unpack_from("<IIQQII", table, 32 * i)
        if kind not in NAMES or length == 0:
            continue
        if kind == 2:  # 32-byte zone records
            dtype = np.dtype([("slot_start", "<u8"), ("slot_count", "<u8"), ("entry", "<u4"),
                              ("max_level", "<u4"), ("t_min", "<f4"), ("reserved", "<u4")])
        else:
            dtype = np.dtype({1: np.uint8, 4: np.uint32 if kind in U32_KINDS else np.float32,
                              8: np.uint64}[size])
        sections[NAMES[kind]] = np.memmap(path, dtype=dtype, mode="r", offset=offset,
                                          shape=(length // dtype.itemsize,))
    return header, sections


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    path = sys.argv[1]

    index = zgq.Index.open(path)  # memory-mapped: instant for any size
    s = index.stats()
    print(f"{index}: format {s['format_version']}, written by zgq {s['written_by']}, "
          f"{s['file_bytes']:,} bytes, {s['resident_bytes']:,} resident")

    header, sections = map_sections(path)
    centroids = np.asarray(sections["centroids"]).reshape(header["zones"], header["dim"])
    labels = sections["labels"]
    zones = sections["zones"]
    print(f"mapped {', '.join(sections)}")
    print(f"centroids {centroids.shape}; zone sizes {zones['slot_count'].min()}–{zones['slot_count'].max()}; "
          f"labels[:5] {labels[:5].tolist()}")
    assert centroids.shape == (index.zones, index.dim) and zones["slot_count"].sum() == header["slots"]

    # Search from Python with a vector read from the mapped file itself.
    if "vectors" in sections:  # SQ8 graph and zone-scan files
        vectors = sections["vectors"].reshape(header["slots"], header["dim"])
        ids, dist = index.search(np.array(vectors[0]), k=5)
        print(f"nearest to the first stored vector: {ids.tolist()} (its id {labels[0]}), distances {dist}")
        assert ids[0] == labels[0] or dist[0] == 0
    else:  # neighbour blocks keep the vectors inside their records
        ids, dist = index.search(centroids[0], k=5)
        print(f"nearest to zone 0's centroid: {ids.tolist()}, distances {dist}")


if __name__ == "__main__":
    main()
