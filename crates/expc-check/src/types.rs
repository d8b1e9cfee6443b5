//! Types, and which values may go where.

use crate::defs::DefId;

/// The type of a value.
#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    Int,
    Float,
    Bool,
    String,
    Path,
    Memory,
    Duration,
    Cpu,
    Timestamp,
    /// `File<F>`
    File(DefId),
    Dir,
    /// `Table<F>` or `Table<F, S>`
    Table(DefId, Option<DefId>),
    /// `Model<F>`
    Model(DefId),
    Metrics,
    List(Box<Type>),
    Optional(Box<Type>),
    Record(DefId),
    Enum(DefId),

    // Types of things that are not values a user can write a type for.
    /// `none`, before it meets an optional.
    NoneLit,
    /// `[]`, before it meets a list type.
    EmptyList,
    /// A resource of a kind.
    Resource(DefId),
    Sweep(DefId),
    /// A point of a sweep: the loop variable of `for p in sweep`.
    Point(DefId),
    Task(DefId),
    /// A call of a task in a pipeline; `gathered` after its loop.
    Call {
        task: DefId,
        gathered: bool,
    },
    Module(crate::modules::ModuleId),
    /// The type name of an enum, used as `Goal.minimize`.
    EnumName(DefId),
    /// A distribution of a `random` sweep, drawing values of the type.
    Distribution(Box<Type>),
    /// Something already reported: fits everywhere, so one mistake gives one error.
    Error,
}

impl Type {
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }

    pub fn optional(t: Type) -> Type {
        match t {
            Type::Optional(_) | Type::Error => t,
            t => Type::Optional(Box::new(t)),
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Type::Error)
    }

    /// Files and directories: what tasks read and write.
    pub fn is_artifact(&self) -> bool {
        match self {
            Type::File(_) | Type::Dir | Type::Table(..) | Type::Model(_) | Type::Metrics => true,
            Type::Optional(t) => t.is_artifact(),
            _ => false,
        }
    }

    /// Has a canonical text form in an argv template (as one argument).
    pub fn has_text_form(&self) -> bool {
        matches!(
            self,
            Type::Int
                | Type::Float
                | Type::Bool
                | Type::String
                | Type::Path
                | Type::Memory
                | Type::Duration
                | Type::Cpu
                | Type::Timestamp
                | Type::Enum(_)
                | Type::Error
        ) || self.is_artifact()
    }

    /// The element type of a list (or of a list-like `Error`).
    pub fn element(&self) -> Option<Type> {
        match self {
            Type::List(t) => Some((**t).clone()),
            Type::EmptyList | Type::Error => Some(Type::Error),
            _ => None,
        }
    }
}

/// Why a value does not fit a type.
#[derive(Clone, Debug, PartialEq)]
pub enum Misfit {
    /// Plainly another type.
    Type,
    /// A number where a quantity is expected.
    MissingUnit,
    /// The same kind of artifact in another format.
    Format { found: DefId, expected: DefId },
    /// A table whose columns differ; the message says how.
    Schema(String),
}
