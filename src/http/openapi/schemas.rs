//! JSON Schemas of the proto messages, read from the service's descriptor
//! set as the proto3 JSON mapping (pbjson) writes and reads them:
//! lowerCamelCase names, enums by name, well-known types as strings, and
//! the proto's comments as descriptions.
//!
//! A message has two shapes. What the server sends ([`Flavor::Output`])
//! carries every field (pbjson's `emit_fields`) except an unset message or
//! `optional` field, which is absent: those are the schema's `required`.
//! What a caller sends ([`Flavor::Input`]) may leave out any field, may
//! send those same message and `optional` fields as null (unset), and has
//! not the fields a route fills from its path. Both refuse unknown fields,
//! as the server does.

use std::collections::HashMap;

use prost::Message as _;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet,
    MethodDescriptorProto,
    field_descriptor_proto::{Label, Type},
};
use serde_json::{Map, Value, json};

/// The proto3 JSON form of a Duration: seconds with up to nine decimals.
pub const DURATION_PATTERN: &str = r"^-?[0-9]+(\.[0-9]{1,9})?s$";

/// The descriptor set, indexed by full name (`.package.Message`), with the
/// comments of its source info by (file, location path).
#[derive(Debug, Default)]
pub struct Descriptors {
    messages: HashMap<String, (usize, Vec<i32>, DescriptorProto)>,
    enums: HashMap<String, (usize, Vec<i32>, EnumDescriptorProto)>,
    comments: HashMap<(usize, Vec<i32>), String>,
    methods: HashMap<String, (usize, Vec<i32>, MethodDescriptorProto)>,
    services: Vec<(usize, Vec<i32>)>,
}

impl Descriptors {
    pub fn decode(bytes: &[u8]) -> Result<Self, prost::DecodeError> {
        let set = FileDescriptorSet::decode(bytes)?;
        let mut d = Self::default();
        for (f, file) in set.file.into_iter().enumerate() {
            let package = file.package.clone().unwrap_or_default();
            let prefix = format!(".{package}");
            for (i, m) in file.message_type.iter().enumerate() {
                d.add_message(f, &prefix, vec![4, i as i32], m);
            }
            for (i, e) in file.enum_type.iter().enumerate() {
                let name = format!("{prefix}.{}", e.name());
                d.enums.insert(name, (f, vec![5, i as i32], e.clone()));
            }
            for (s, service) in file.service.iter().enumerate() {
                d.services.push((f, vec![6, s as i32]));
                for (m, method) in service.method.iter().enumerate() {
                    let path = vec![6, s as i32, 2, m as i32];
                    d.methods
                        .insert(method.name().to_owned(), (f, path, method.clone()));
                }
            }
            let locations = file.source_code_info.iter().flat_map(|i| &i.location);
            for location in locations {
                if let Some(text) = location.leading_comments.as_deref().map(tidy) {
                    d.comments.insert((f, location.path.clone()), text);
                }
            }
        }
        Ok(d)
    }

    fn add_message(&mut self, file: usize, prefix: &str, path: Vec<i32>, m: &DescriptorProto) {
        let name = format!("{prefix}.{}", m.name());
        for (i, nested) in m.nested_type.iter().enumerate() {
            let mut nested_path = path.clone();
            nested_path.extend([3, i as i32]);
            self.add_message(file, &name, nested_path, nested);
        }
        for (i, e) in m.enum_type.iter().enumerate() {
            let mut enum_path = path.clone();
            enum_path.extend([4, i as i32]);
            let enum_name = format!("{name}.{}", e.name());
            self.enums.insert(enum_name, (file, enum_path, e.clone()));
        }
        self.messages.insert(name, (file, path, m.clone()));
    }

    fn comment(&self, file: usize, path: &[i32]) -> Option<&str> {
        self.comments
            .get(&(file, path.to_vec()))
            .map(String::as_str)
    }

    /// The comment of the first service (the API's description).
    pub fn service_comment(&self) -> Option<&str> {
        let (file, path) = self.services.first()?;
        self.comment(*file, path)
    }

    /// A method's input and output types and its comment.
    pub fn method(&self, name: &str) -> Option<(&str, &str, Option<&str>)> {
        let (file, path, m) = self.methods.get(name)?;
        Some((m.input_type(), m.output_type(), self.comment(*file, path)))
    }

    /// A field of a message, by its proto name, and its comment.
    pub fn field(
        &self,
        message: &str,
        name: &str,
    ) -> Option<(&FieldDescriptorProto, Option<&str>)> {
        let (file, path, m) = self.messages.get(message)?;
        let (i, field) = m.field.iter().enumerate().find(|(_, f)| f.name() == name)?;
        let mut field_path = path.clone();
        field_path.extend([2, i as i32]);
        Some((field, self.comment(*file, &field_path)))
    }
}

/// A comment as a description: its lines without their leading space.
fn tidy(comment: &str) -> String {
    comment
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// Which way a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Output,
    Input,
}

/// The `components.schemas` being built.
#[derive(Debug)]
pub struct Schemas<'d> {
    descriptors: &'d Descriptors,
    pub components: Map<String, Value>,
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn short(full: &str) -> &str {
    full.rsplit('.').next().unwrap_or(full)
}

impl<'d> Schemas<'d> {
    pub fn new(descriptors: &'d Descriptors) -> Self {
        Self {
            descriptors,
            components: Map::new(),
        }
    }

    /// A `$ref` to the message's schema, built with what it references.
    /// An input schema of a message other than a request is named
    /// `…Input`; `without` lists fields left out (filled from the path).
    pub fn message(&mut self, full: &str, flavor: Flavor, without: &[&str]) -> Value {
        let is_request = self
            .descriptors
            .methods
            .values()
            .any(|m| m.2.input_type() == full);
        let name = match flavor {
            Flavor::Input if !is_request => format!("{}Input", short(full)),
            _ => short(full).to_owned(),
        };
        if !self.components.contains_key(&name) {
            // Placed first, so that a message that contains itself ends.
            self.components.insert(name.clone(), Value::Null);
            let schema = self.build(full, flavor, without);
            self.components.insert(name.clone(), schema);
        }
        reference(&name)
    }

    fn build(&mut self, full: &str, flavor: Flavor, without: &[&str]) -> Value {
        let Some((file, path, message)) = self.descriptors.messages.get(full) else {
            return json!({});
        };
        if message.options.as_ref().is_some_and(|o| o.map_entry()) {
            return json!({});
        }
        let mut properties = Map::new();
        let mut required = Vec::new();
        for (i, field) in message.field.iter().enumerate() {
            if without.contains(&field.name()) {
                continue;
            }
            let mut schema = self.field(field, flavor);
            // pbjson reads null as unset where unset is a state of its own.
            if flavor == Flavor::Input && !always_emitted(field) {
                schema = json!({ "anyOf": [schema, { "type": "null" }] });
            }
            let mut field_path = path.clone();
            field_path.extend([2, i as i32]);
            if let Some(text) = self.descriptors.comment(*file, &field_path) {
                describe(&mut schema, text);
            }
            if flavor == Flavor::Output && always_emitted(field) {
                required.push(Value::from(field.json_name()));
            }
            properties.insert(field.json_name().to_owned(), schema);
        }
        let mut schema = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        if let Some(text) = self.descriptors.comment(*file, path) {
            describe(&mut schema, text);
        }
        schema
    }

    /// A field's schema: its type, an array of it when repeated.
    fn field(&mut self, field: &FieldDescriptorProto, flavor: Flavor) -> Value {
        if let Some(entry) = self.map_entry(field, flavor) {
            return entry;
        }
        let one = self.single(field, flavor);
        if field.label() == Label::Repeated {
            json!({ "type": "array", "items": one })
        } else {
            one
        }
    }

    /// A `map<K, V>` field: an object of V by the keys as strings.
    fn map_entry(&mut self, field: &FieldDescriptorProto, flavor: Flavor) -> Option<Value> {
        let (_, _, entry) = self.descriptors.messages.get(field.type_name())?;
        if !entry.options.as_ref().is_some_and(|o| o.map_entry()) {
            return None;
        }
        let value = entry.field.iter().find(|f| f.number() == 2)?.clone();
        let value = self.single(&value, flavor);
        Some(json!({ "type": "object", "additionalProperties": value }))
    }

    fn single(&mut self, field: &FieldDescriptorProto, flavor: Flavor) -> Value {
        match field.r#type() {
            Type::Message | Type::Group => well_known(field.type_name())
                .unwrap_or_else(|| self.message(field.type_name(), flavor, &[])),
            Type::Enum => self.enumeration(field.type_name()),
            other => scalar(other),
        }
    }

    /// A `$ref` to an enum's schema: a string of its values' names.
    fn enumeration(&mut self, full: &str) -> Value {
        let name = short(full).to_owned();
        if !self.components.contains_key(&name) {
            let schema = match self.descriptors.enums.get(full) {
                Some((file, path, e)) => self.enum_schema(*file, path, e),
                None => json!({ "type": "string" }),
            };
            self.components.insert(name.clone(), schema);
        }
        reference(&name)
    }

    fn enum_schema(&self, file: usize, path: &[i32], e: &EnumDescriptorProto) -> Value {
        let names: Vec<&str> = e.value.iter().map(|v| v.name()).collect();
        let mut text = self
            .descriptors
            .comment(file, path)
            .unwrap_or("")
            .to_owned();
        text.push('\n');
        for (i, v) in e.value.iter().enumerate() {
            let mut value_path = path.to_vec();
            value_path.extend([2, i as i32]);
            if let Some(c) = self.descriptors.comment(file, &value_path) {
                text.push_str(&format!("\n- `{}`: {}", v.name(), c.replace('\n', " ")));
            }
        }
        let mut schema = json!({ "type": "string", "enum": names });
        describe(&mut schema, text.trim());
        schema
    }
}

/// pbjson writes every field but an unset message, `optional` or oneof one.
fn always_emitted(field: &FieldDescriptorProto) -> bool {
    let message = matches!(field.r#type(), Type::Message | Type::Group);
    let repeated = field.label() == Label::Repeated;
    (repeated || !message) && !field.proto3_optional() && field.oneof_index.is_none()
}

/// A description beside a `$ref` is allowed in OpenAPI 3.1.
fn describe(schema: &mut Value, text: &str) {
    if !text.is_empty()
        && let Some(object) = schema.as_object_mut()
    {
        object.insert("description".to_owned(), Value::from(text));
    }
}

/// The well-known types the proto3 JSON mapping writes as strings.
fn well_known(full: &str) -> Option<Value> {
    Some(match full {
        ".google.protobuf.Timestamp" => json!({ "type": "string", "format": "date-time" }),
        ".google.protobuf.Duration" => json!({ "type": "string", "pattern": DURATION_PATTERN }),
        ".google.protobuf.FieldMask" => json!({
            "type": "string",
            "description": "Comma-separated lowerCamelCase field paths.",
        }),
        ".google.protobuf.Empty" => json!({ "type": "object", "additionalProperties": false }),
        ".google.protobuf.Struct" => json!({ "type": "object" }),
        ".google.protobuf.Value" | ".google.protobuf.Any" => json!({}),
        _ => return None,
    })
}

/// A scalar as proto3 JSON writes it: 64-bit integers as strings.
fn scalar(ty: Type) -> Value {
    match ty {
        Type::String => json!({ "type": "string" }),
        Type::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
        Type::Bool => json!({ "type": "boolean" }),
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
            json!({ "type": "integer", "format": "int32" })
        }
        Type::Uint32 | Type::Fixed32 => {
            json!({ "type": "integer", "format": "int64", "minimum": 0, "maximum": u32::MAX })
        }
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
            json!({ "type": "string", "format": "int64", "pattern": "^-?[0-9]+$" })
        }
        Type::Uint64 | Type::Fixed64 => json!({ "type": "string", "pattern": "^[0-9]+$" }),
        Type::Float | Type::Double => json!({ "type": "number" }),
        Type::Message | Type::Group | Type::Enum => json!({}),
    }
}
