//! Messages shared by every signal: attributes (`KeyValue`, `AnyValue`), `Resource`,
//! `InstrumentationScope`.

use serde_json::Value;
use weir_proto::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use weir_proto::resource::v1::Resource;

use super::read::{Obj, Result};
use super::write;

pub(super) fn read_attributes(o: Obj<'_>, key: &str) -> Result<Vec<KeyValue>> {
    o.messages(key, read_key_value)
}

fn read_key_value(o: Obj<'_>) -> Result<KeyValue> {
    Ok(KeyValue {
        key: o.string("key")?,
        value: o.message("value", read_any_value)?,
        ..Default::default()
    })
}

/// The first member of the oneof that is present wins; none present is an empty value.
pub(super) fn read_any_value(o: Obj<'_>) -> Result<AnyValue> {
    use any_value::Value as V;
    let value = if o.has("stringValue") {
        Some(V::StringValue(o.string("stringValue")?))
    } else if o.has("boolValue") {
        Some(V::BoolValue(o.bool("boolValue")?))
    } else if o.has("intValue") {
        Some(V::IntValue(o.i64("intValue")?))
    } else if o.has("doubleValue") {
        Some(V::DoubleValue(o.f64("doubleValue")?))
    } else if o.has("arrayValue") {
        let values = o.message("arrayValue", |a| a.messages("values", read_any_value))?;
        Some(V::ArrayValue(ArrayValue {
            values: values.unwrap_or_default(),
        }))
    } else if o.has("kvlistValue") {
        let values = o.message("kvlistValue", |l| read_attributes(l, "values"))?;
        Some(V::KvlistValue(KeyValueList {
            values: values.unwrap_or_default(),
        }))
    } else if o.has("bytesValue") {
        Some(V::BytesValue(o.bytes("bytesValue")?))
    } else if o.has("stringValueStrindex") {
        Some(V::StringValueStrindex(o.i32("stringValueStrindex")?))
    } else {
        None
    };
    Ok(AnyValue { value })
}

pub(super) fn read_resource(o: Obj<'_>) -> Result<Resource> {
    Ok(Resource {
        attributes: read_attributes(o, "attributes")?,
        dropped_attributes_count: o.u32("droppedAttributesCount")?,
        entity_refs: o.messages("entityRefs", read_entity_ref)?,
    })
}

fn read_entity_ref(o: Obj<'_>) -> Result<EntityRef> {
    Ok(EntityRef {
        schema_url: o.string("schemaUrl")?,
        r#type: o.string("type")?,
        id_keys: o.strings("idKeys")?,
        description_keys: o.strings("descriptionKeys")?,
    })
}

pub(super) fn read_scope(o: Obj<'_>) -> Result<InstrumentationScope> {
    Ok(InstrumentationScope {
        name: o.string("name")?,
        version: o.string("version")?,
        attributes: read_attributes(o, "attributes")?,
        dropped_attributes_count: o.u32("droppedAttributesCount")?,
    })
}

// ---------------------------------------------------------------- writing

pub(super) fn write_attributes(attributes: &[KeyValue]) -> impl Iterator<Item = Value> + '_ {
    attributes.iter().map(write_key_value)
}

fn write_key_value(kv: &KeyValue) -> Value {
    write::Obj::new()
        .oneof("key", Value::String(kv.key.clone()))
        .message("value", kv.value.as_ref().map(write_any_value))
        .build()
}

pub(super) fn write_any_value(value: &AnyValue) -> Value {
    use any_value::Value as V;
    let o = write::Obj::new();
    let o = match &value.value {
        Some(V::StringValue(s)) => o.oneof("stringValue", Value::String(s.clone())),
        Some(V::BoolValue(b)) => o.oneof("boolValue", Value::Bool(*b)),
        Some(V::IntValue(i)) => o.oneof("intValue", write::i64_value(*i)),
        Some(V::DoubleValue(d)) => o.oneof("doubleValue", write::f64_value(*d)),
        Some(V::ArrayValue(a)) => o.oneof(
            "arrayValue",
            write::Obj::new()
                .list("values", a.values.iter().map(write_any_value))
                .build(),
        ),
        Some(V::KvlistValue(l)) => o.oneof(
            "kvlistValue",
            write::Obj::new()
                .list("values", write_attributes(&l.values))
                .build(),
        ),
        Some(V::BytesValue(b)) => o.oneof("bytesValue", write::base64_value(b)),
        // Profiles-only string-table reference: kept so nothing is lost in a round trip.
        Some(V::StringValueStrindex(i)) => o.oneof("stringValueStrindex", Value::from(*i)),
        None => o,
    };
    o.build()
}

pub(super) fn write_resource(resource: &Resource) -> Value {
    write::Obj::new()
        .list("attributes", write_attributes(&resource.attributes))
        .u32("droppedAttributesCount", resource.dropped_attributes_count)
        .list(
            "entityRefs",
            resource.entity_refs.iter().map(write_entity_ref),
        )
        .build()
}

fn write_entity_ref(entity: &EntityRef) -> Value {
    write::Obj::new()
        .string("schemaUrl", &entity.schema_url)
        .string("type", &entity.r#type)
        .strings("idKeys", &entity.id_keys)
        .strings("descriptionKeys", &entity.description_keys)
        .build()
}

pub(super) fn write_scope(scope: &InstrumentationScope) -> Value {
    write::Obj::new()
        .string("name", &scope.name)
        .string("version", &scope.version)
        .list("attributes", write_attributes(&scope.attributes))
        .u32("droppedAttributesCount", scope.dropped_attributes_count)
        .build()
}
