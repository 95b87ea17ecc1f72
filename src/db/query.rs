//! A small builder for SQL whose shape depends on the request (list filters). It
//! numbers the `$n` placeholders itself and keeps the bound values in order, so one
//! built query runs on either backend; user input only ever travels as a bind.

#[derive(Debug, Clone)]
pub enum Bind {
    Int(i64),
    Text(String),
    OptInt(Option<i64>),
    OptText(Option<String>),
}

#[derive(Debug, Default)]
pub struct Sql {
    text: String,
    binds: Vec<Bind>,
    anonymous: bool,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            binds: Vec::new(),
            anonymous: false,
        }
    }

    /// A query for SQLite with anonymous `?` placeholders. For statements with
    /// thousands of binds: SQLite looks a numbered parameter up by walking the
    /// list of names, so binding `$1…$n` costs O(n²), which made a 500-row INSERT
    /// slower than 500 single ones.
    pub fn new_anonymous(text: &str) -> Sql {
        Sql {
            anonymous: true,
            ..Sql::new(text)
        }
    }

    /// Puts literal SQL before the text (`EXPLAIN …`); placeholders keep their numbers.
    pub fn prefix(&mut self, text: &str) -> &mut Self {
        self.text.insert_str(0, text);
        self
    }

    /// Appends literal SQL (never user input).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        if self.anonymous {
            self.text.push('?');
        } else {
            self.text.push('$');
            self.text.push_str(&self.binds.len().to_string());
        }
        self
    }

    pub fn int(&mut self, value: i64) -> &mut Self {
        self.bind(Bind::Int(value))
    }

    pub fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.bind(Bind::Text(value.into()))
    }

    /// A placeholder for a value that may be NULL.
    pub fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        self.bind(Bind::OptInt(value))
    }

    pub fn opt_text(&mut self, value: Option<String>) -> &mut Self {
        self.bind(Bind::OptText(value))
    }

    pub fn sql(&self) -> &str {
        &self.text
    }

    pub fn binds(&self) -> &[Bind] {
        &self.binds
    }
}

/// Adds the binds of a [`Sql`] to a sqlx query of either kind.
macro_rules! bind_all {
    ($q:expr, $sql:expr) => {{
        let mut q = $q;
        for b in $sql.binds() {
            q = match b {
                $crate::db::query::Bind::Int(v) => q.bind(*v),
                $crate::db::query::Bind::Text(v) => q.bind(v.clone()),
                $crate::db::query::Bind::OptInt(v) => q.bind(*v),
                $crate::db::query::Bind::OptText(v) => q.bind(v.clone()),
            };
        }
        q
    }};
}
pub(crate) use bind_all;

/// Builds a `sqlx::query_as` from a [`Sql`] for whichever backend the pool is.
macro_rules! query_as_built {
    ($row:ty, $sql:expr) => {
        $crate::db::query::bind_all!(sqlx::query_as::<_, $row>($sql.sql()), $sql)
    };
}
pub(crate) use query_as_built;

/// Builds a `sqlx::query` (no rows wanted) from a [`Sql`].
macro_rules! query_built {
    ($sql:expr) => {
        $crate::db::query::bind_all!(sqlx::query($sql.sql()), $sql)
    };
}
pub(crate) use query_built;

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_bind_order() {
        let mut sql = Sql::new("SELECT 1 WHERE a = ");
        sql.int(1).push(" AND b = ").text("x");
        assert_eq!(sql.sql(), "SELECT 1 WHERE a = $1 AND b = $2");
        assert_eq!(sql.binds().len(), 2);
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }
}
