//! A request's `params`, read in the same pass as the rest of the line: up to [`PARAMS_MAX`] raw
//! elements kept on the stack (borrowed from the line), the rest only counted. Each method then
//! reads the elements it knows, with an error naming the index and the field.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::{FieldProblem, ParamsError};
use super::json::Scalar;

/// Most parameters kept from one request (a submit has 6); further ones are counted, not kept.
pub const PARAMS_MAX: usize = 8;

/// The `params` member as found.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ParamsShape<'a> {
    /// Missing, or `null`: read as an empty list.
    Absent,
    /// Present but not an array: the JSON type's name.
    NotArray(&'static str),
    /// An array.
    List(ParamList<'a>),
}

impl<'a> ParamsShape<'a> {
    /// The list, treating a missing `params` as empty.
    pub(crate) fn list(self) -> Result<ParamList<'a>, ParamsError> {
        match self {
            ParamsShape::Absent => Ok(ParamList::EMPTY),
            ParamsShape::NotArray(found) => Err(ParamsError::NotArray { found }),
            ParamsShape::List(list) => Ok(list),
        }
    }
}

/// Up to [`PARAMS_MAX`] raw elements of the `params` array, and how many there were in all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamList<'a> {
    items: [Option<&'a RawValue>; PARAMS_MAX],
    count: usize,
}

impl<'a> ParamList<'a> {
    /// No parameters.
    pub(crate) const EMPTY: ParamList<'static> = ParamList {
        items: [None; PARAMS_MAX],
        count: 0,
    };

    /// How many elements the array had (kept or not).
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Element `index` as raw JSON, if present and kept.
    pub(crate) fn raw(&self, index: usize) -> Option<&'a RawValue> {
        self.items.get(index).copied().flatten()
    }

    /// Element `index`, or `None` when absent.
    pub(crate) fn scalar(&self, index: usize) -> Option<Scalar<'a>> {
        self.raw(index).map(Scalar::of)
    }

    /// A required string.
    pub(crate) fn string(
        &self,
        index: usize,
        field: &'static str,
    ) -> Result<Cow<'a, str>, ParamsError> {
        match self.scalar(index) {
            Some(Scalar::Str(text)) => Ok(text),
            other => Err(field_error(
                index,
                field,
                FieldProblem::Type {
                    expected: "a string",
                    found: other.as_ref().map_or("nothing", Scalar::type_name),
                },
            )),
        }
    }

    /// An optional string: anything that is not a string reads as absent (tolerance for the
    /// many miners that send `null`, numbers or nothing where a string is optional).
    pub(crate) fn optional_string(&self, index: usize) -> Option<Cow<'a, str>> {
        match self.scalar(index) {
            Some(Scalar::Str(text)) => Some(text),
            _ => None,
        }
    }

    /// A required hex string parsed as a u32: exactly 8 digits or 1 to 8.
    pub(crate) fn hex_u32(
        &self,
        index: usize,
        field: &'static str,
        exactly_8: bool,
    ) -> Result<u32, ParamsError> {
        let text = self.string(index, field)?;
        super::hex::parse_u32(&text, exactly_8).map_err(|p| field_error(index, field, p))
    }
}

/// A [`ParamsError::Field`].
pub(crate) fn field_error(index: usize, field: &'static str, problem: FieldProblem) -> ParamsError {
    ParamsError::Field {
        index,
        field,
        problem,
    }
}

impl<'de> Deserialize<'de> for ParamsShape<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = ParamsShape<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a params array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = ParamList {
            items: [None; PARAMS_MAX],
            count: 0,
        };
        for slot in list.items.iter_mut() {
            match seq.next_element::<&'de RawValue>()? {
                Some(raw) => {
                    *slot = Some(raw);
                    list.count = list.count.saturating_add(1);
                }
                None => return Ok(ParamsShape::List(list)),
            }
        }
        // Beyond the kept ones: skip (serde_json skips iteratively) and count.
        while seq.next_element::<IgnoredAny>()?.is_some() {
            list.count = list.count.saturating_add(1);
        }
        Ok(ParamsShape::List(list))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ParamsShape::Absent)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ParamsShape::Absent)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(ParamsShape::NotArray("an object"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ParamsShape::NotArray("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ParamsShape::NotArray("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ParamsShape::NotArray("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ParamsShape::NotArray("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ParamsShape::NotArray("a string"))
    }
}
