#!/usr/bin/env python3
"""Builds the seed corpus of every fuzz target from the vendored conformance material.

Usage: seed.py OUT_DIR. Writes OUT_DIR/<target>/<name> for each target; existing files
are kept (libFuzzer adds what it finds to the same folders). Inputs whose target reads a
selector byte first (see tests/src/fuzz.rs) get that byte prepended here.

Sources (all in the repository):
- tests/conformance/otlp/examples/*.json          -> otlp_json
- tests/fuzz/seeds/otlp_protobuf/*.bin            -> otlp_protobuf (those examples as
  protobuf, written by the ignored test `write_protobuf_seeds`)
- tests/conformance/statsd/cases.md (input column) -> statsd, one datagram per case
- tests/conformance/openmetrics/parsers/*/metrics  -> prometheus, OpenMetrics (strict
  and lenient)
- tests/conformance/prometheus_text/**             -> prometheus, text 0.0.4 (and one gzipped)
- records built here around those protobuf payloads (whole, cut, one bit flipped, with
  done-marks)                                      -> wal
- examples/*.yaml, integration/collector_configs/*.yaml, tests/fuzz/seeds/config/*.yaml
                                                   -> config
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
REPO = FUZZ.parent.parent
CONFORMANCE = REPO / "tests" / "conformance"

# Selector bytes (tests/src/fuzz.rs): bit 0 OpenMetrics, bit 1 strict, bit 2 gzip, the
# rest where the body is cut into two chunks.
TEXT, OPENMETRICS, STRICT, GZIP = 0, 1, 2, 4
SIGNAL = {"trace": 0, "metrics": 1, "logs": 2, "events": 2}


def write(out: Path, target: str, name: str, data: bytes) -> None:
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


# The persistent queue's log format (components/file_storage_extension/src/wal/format.rs
# and sidecar.rs): record header `sync index len items crc32`, little-endian, the CRC-32
# over index, len, items and the payload; sidecar marks `index kind`.
WAL_SYNC, WAL_SENT, WAL_DONE = 0x57455243, 0x53450001, 0x53450002


def wal_record(index: int, items: int, payload: bytes) -> bytes:
    fields = struct.pack("<III", index, len(payload), items)
    return struct.pack("<I", WAL_SYNC) + fields + struct.pack("<I", zlib.crc32(fields + payload)) \
        + payload


def wal_mark(index: int, kind: int) -> bytes:
    return struct.pack("<II", index, kind)


def statsd_lines() -> list[bytes]:
    """The `Input` column of cases.md: `a\\|b` is a literal `|`, `\\n` separates lines."""
    text = (CONFORMANCE / "statsd" / "cases.md").read_text()
    lines = []
    for row in re.finditer(r"^\| *\d+ *\| *`([^`]*)`", text, re.MULTILINE):
        lines.append(row.group(1).replace("\\|", "|").replace("\\n", "\n").encode())
    return lines


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    out = Path(sys.argv[1])

    for path in sorted((CONFORMANCE / "otlp" / "examples").glob("*.json")):
        write(out, "otlp_json", path.stem, bytes([SIGNAL[path.stem]]) + path.read_bytes())
    for path in sorted((FUZZ / "seeds" / "otlp_protobuf").glob("*.bin")):
        write(out, "otlp_protobuf", path.stem, path.read_bytes())

    for i, line in enumerate(statsd_lines()):
        write(out, "statsd", f"case{i:03}", line)

    for case in sorted((CONFORMANCE / "openmetrics" / "parsers").iterdir()):
        body = (case / "metrics").read_bytes()
        write(out, "prometheus", f"om_{case.name}", bytes([OPENMETRICS | STRICT]) + body)
        if not case.name.startswith("bad_"):
            write(out, "prometheus", f"oml_{case.name}", bytes([OPENMETRICS]) + body)
    text_dir = CONFORMANCE / "prometheus_text"
    for path in sorted(p for p in text_dir.rglob("*") if p.is_file()):
        body = path.read_bytes()
        fmt = OPENMETRICS if path.name.endswith(".om.txt") else TEXT
        write(out, "prometheus", f"text_{path.name}", bytes([fmt]) + body)
    small = (text_dir / "prometheus_common" / "expfmt" / "fuzz" / "corpus" / "from_test_parse_0")
    if small.exists():
        write(out, "prometheus", "gzip_from_test_parse_0",
              bytes([TEXT | GZIP | (7 << 3)]) + gzip.compress(small.read_bytes()))

    # wal: segment images (without the magic, which the target puts in front) holding
    # records with the protobuf seeds as payloads; the first byte is the sidecar length / 8.
    payloads = [p.read_bytes()[1:] for p in sorted((FUZZ / "seeds" / "otlp_protobuf").glob("*.bin"))]
    records = b"".join(wal_record(i, 1, payload) for i, payload in enumerate(payloads))
    write(out, "wal", "records", bytes([0]) + records)
    write(out, "wal", "records_first_done", bytes([2]) + wal_mark(0, WAL_SENT)
          + wal_mark(0, WAL_DONE) + records)
    write(out, "wal", "records_cut", bytes([0]) + records[: len(records) - 7])
    flipped = bytearray(records)
    flipped[30] ^= 0x40
    write(out, "wal", "records_flipped", bytes([0]) + bytes(flipped))

    configs = sorted((REPO / "examples").glob("*.yaml"))
    configs += sorted((REPO / "integration" / "collector_configs").glob("*.yaml"))
    configs += sorted((FUZZ / "seeds" / "config").glob("*.yaml"))
    for path in configs:
        write(out, "config", path.name, path.read_bytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
