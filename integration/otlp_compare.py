"""Comparing OTLP/JSON documents field by field, independent of the encodings the spec
allows to differ: 64-bit integers as strings or numbers, default values present or
omitted, hex ids in either case."""

from __future__ import annotations

INT64_KEYS = {
    "timeUnixNano", "startTimeUnixNano", "observedTimeUnixNano", "endTimeUnixNano",
    "asInt", "intValue", "count", "bucketCounts", "zeroCount",
}
ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def normalize(value, key: str | None = None):
    """Canonical form: camelCase keys, ints as ints, lower-case ids, defaults removed."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            k = _camel(k)
            nv = normalize(v, k)
            if nv in (None, "", 0, [], {}, False, 0.0):
                continue
            out[k] = nv
        return out
    if isinstance(value, list):
        return [normalize(v, key) for v in value]
    if key in INT64_KEYS and isinstance(value, str):
        return int(value)
    if key in ID_KEYS and isinstance(value, str):
        return value.lower()
    return value


def items(doc: dict, signal: str) -> list[dict]:
    """Flattens an export request into its items, each with its resource and scope."""
    out = []
    if signal == "traces":
        for rs in doc.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    out.append({"resource": rs.get("resource", {}), "scope": ss.get("scope", {}), "item": span})
    elif signal == "logs":
        for rl in doc.get("resourceLogs", []):
            for sl in rl.get("scopeLogs", []):
                for rec in sl.get("logRecords", []):
                    out.append({"resource": rl.get("resource", {}), "scope": sl.get("scope", {}), "item": rec})
    else:
        for rm in doc.get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for metric in sm.get("metrics", []):
                    out.append({"resource": rm.get("resource", {}), "scope": sm.get("scope", {}), "item": metric})
    return out


def attributes(kvs: list[dict]) -> dict:
    """{key: python value} from an OTLP/JSON attribute list."""
    out = {}
    for kv in kvs or []:
        value = kv.get("value", {})
        for kind, v in value.items():
            if kind == "intValue":
                v = int(v)
            out[kv["key"]] = v
    return out
