use thiserror::Error;

/// What can go wrong in storage, in terms a caller can act on.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A uniqueness rule was broken (a name or address already in use).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A reference points at something that does not exist, or a check failed.
    #[error("invalid reference or value: {0}")]
    Invalid(String),
    /// A stored value that this version cannot read (for example an unknown enum name).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL '{0}': expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
}

impl StoreError {
    pub(crate) fn not_found(entity: &'static str) -> Self {
        Self::NotFound { entity }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &e {
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => Self::Conflict(db.message().to_owned()),
                ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation => Self::Invalid(db.message().to_owned()),
                _ => Self::Database(e),
            },
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                Self::Corrupt(e.to_string())
            }
            _ => Self::Database(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
