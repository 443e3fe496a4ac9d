//! Enums as DocSpace puts them on the wire: requests may carry the name (any case) or the
//! integer, responses always carry the integer (API.md §1, §3.4).

/// Declares an enum with fixed integer values that serializes as its integer and
/// deserializes from the integer, a numeric string, or the name (case-insensitive).
#[macro_export]
macro_rules! wire_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident = $value:expr),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($variant = $value),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The integer written on the wire.
            pub fn value(self) -> i64 { self as i64 }

            /// The DocSpace name of the variant.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }

            /// Looks a variant up by integer.
            pub fn from_value(v: i64) -> Option<Self> {
                Self::ALL.iter().copied().find(|x| x.value() == v)
            }

            /// Looks a variant up by name (case-insensitive) or by an integer in text form.
            pub fn from_name(s: &str) -> Option<Self> {
                let s = s.trim();
                if let Ok(v) = s.parse::<i64>() {
                    return Self::from_value(v);
                }
                Self::ALL.iter().copied().find(|x| x.name().eq_ignore_ascii_case(s))
            }
        }

        #[cfg(feature = "openapi")]
        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                $crate::enums::integer_enum_schema(stringify!($name), Self::ALL.iter().map(|x| (x.value(), x.name())))
            }
        }

        #[cfg(feature = "openapi")]
        impl ::utoipa::ToSchema for $name {}

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i64(self.value())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = ::serde_json::Value::deserialize(d)?;
                let found = match &raw {
                    ::serde_json::Value::Number(n) => n.as_i64().and_then(Self::from_value),
                    ::serde_json::Value::String(s) => Self::from_name(s),
                    _ => None,
                };
                found.ok_or_else(|| {
                    ::serde::de::Error::custom(format!(
                        "unknown {} value {}; expected one of {}",
                        stringify!($name),
                        raw,
                        Self::ALL
                            .iter()
                            .map(|x| format!("{} ({})", x.name(), x.value()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
            }
        }
    };
}

/// The OpenAPI schema of a [`wire_enum!`] type: an integer restricted to its values, described
/// as DocSpace's specification does (`[0 - Documents, 1 - …]`), with the names in
/// `x-enum-varnames`. Requests may also send the name; responses always carry the integer.
#[cfg(feature = "openapi")]
pub fn integer_enum_schema<'a>(
    type_name: &str,
    variants: impl Iterator<Item = (i64, &'a str)>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::extensions::ExtensionsBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let (values, names): (Vec<i64>, Vec<&str>) = variants.unzip();
    let described: Vec<String> = values
        .iter()
        .zip(&names)
        .map(|(v, n)| format!("{v} - {n}"))
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .title(Some(type_name))
        .description(Some(format!("[{}]", described.join(", "))))
        .enum_values(Some(values))
        .extensions(Some(
            ExtensionsBuilder::new()
                .add("x-enum-varnames", serde_json::json!(names))
                .build(),
        ))
        .into()
}

wire_enum! {
    /// DocSpace `EmployeeType`: a member's role in a portal.
    pub enum EmployeeType {
        RoomAdmin = 1,
        Guest = 2,
        DocSpaceAdmin = 3,
        User = 4,
    }
}

wire_enum! {
    /// DocSpace `RoomType`.
    pub enum RoomType {
        FillingFormsRoom = 1,
        EditingRoom = 2,
        CustomRoom = 5,
        PublicRoom = 6,
        VirtualDataRoom = 8,
        AiRoom = 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_and_ints_writes_ints() {
        let t: RoomType = serde_json::from_str("\"customroom\"").unwrap();
        assert_eq!(t, RoomType::CustomRoom);
        let t: RoomType = serde_json::from_str("6").unwrap();
        assert_eq!(t, RoomType::PublicRoom);
        let t: RoomType = serde_json::from_str("\"2\"").unwrap();
        assert_eq!(t, RoomType::EditingRoom);
        assert_eq!(serde_json::to_string(&RoomType::CustomRoom).unwrap(), "5");
    }

    #[test]
    fn unknown_values_are_errors_naming_the_choices() {
        let err = serde_json::from_str::<RoomType>("\"Lounge\"").unwrap_err();
        assert!(err.to_string().contains("CustomRoom (5)"), "{err}");
        assert!(serde_json::from_str::<RoomType>("3").is_err());
        assert!(serde_json::from_str::<RoomType>("true").is_err());
    }
}
