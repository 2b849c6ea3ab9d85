//! The table model: tables with typed nullable columns and a group key.
//!
//! A [`Table`] holds its columns in order; each [`Column`] has a name, a [`DataType`] and one cell
//! per row (a scalar [`Value`] of that type or `Value::Null`). The [`GroupKey`] names the columns
//! whose value is shared by every row, together with those values; it is kept explicitly so that an
//! empty table still knows its key (annotated CSV writes it in the `#default` row). Every key column
//! is also a column of the table.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::value::{DataType, Record, Value};

/// One column of a group key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyColumn {
    pub name: String,
    pub ty: DataType,
    pub value: Value,
}

/// The group key of a table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupKey {
    pub columns: Vec<KeyColumn>,
}

impl GroupKey {
    pub fn contains(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.value)
    }

    /// A string identifying the key (names, types and values), for grouping in hash maps.
    pub fn identity(&self) -> String {
        let mut s = String::new();
        for c in &self.columns {
            let _ = write!(s, "{}\u{1}{:?}\u{1}", c.name, c.ty);
            cell_identity(&mut s, &c.value);
            s.push('\u{2}');
        }
        s
    }

    /// Orders keys by their values column by column (for a deterministic table order).
    pub fn compare(&self, other: &GroupKey) -> std::cmp::Ordering {
        for (a, b) in self.columns.iter().zip(&other.columns) {
            let o = a
                .name
                .cmp(&b.name)
                .then_with(|| Value::cmp_cells(&a.value, &b.value));
            if o.is_ne() {
                return o;
            }
        }
        self.columns.len().cmp(&other.columns.len())
    }
}

/// Appends a type-tagged text form of a cell to `s` (distinct cells give distinct texts).
pub fn cell_identity(s: &mut String, v: &Value) {
    let _ = match v {
        Value::Null => write!(s, "n"),
        Value::Bool(b) => write!(s, "b{b}"),
        Value::Int(i) => write!(s, "i{i}"),
        Value::UInt(u) => write!(s, "u{u}"),
        Value::Float(f) => write!(s, "f{}", f.to_bits()),
        Value::String(x) => write!(s, "s{x}"),
        Value::Time(t) => write!(s, "t{t}"),
        other => write!(s, "o{other:?}"),
    };
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: DataType,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub key: GroupKey,
    pub columns: Vec<Column>,
}

impl Table {
    /// An empty table with the given key and column schema.
    pub fn empty(key: GroupKey, schema: &[(String, DataType)]) -> Table {
        Table {
            key,
            columns: schema
                .iter()
                .map(|(n, t)| Column {
                    name: n.clone(),
                    ty: *t,
                    values: Vec::new(),
                })
                .collect(),
        }
    }

    pub fn nrows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }

    pub fn is_empty(&self) -> bool {
        self.nrows() == 0
    }

    pub fn col_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn schema(&self) -> Vec<(String, DataType)> {
        self.columns
            .iter()
            .map(|c| (c.name.clone(), c.ty))
            .collect()
    }

    /// Row `i` as a record (column order kept).
    pub fn row(&self, i: usize) -> Record {
        Record {
            fields: self
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.values[i].clone()))
                .collect(),
        }
    }

    /// A new table with the same key and schema holding the rows at `idx`, in that order.
    pub fn take_rows(&self, idx: &[usize]) -> Table {
        Table {
            key: self.key.clone(),
            columns: self
                .columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    ty: c.ty,
                    values: idx.iter().map(|&i| c.values[i].clone()).collect(),
                })
                .collect(),
        }
    }

    /// Rebuilds the key from the named columns, taking values from the first row (or the old
    /// key when the table is empty); names that are not columns are skipped.
    pub fn key_from_columns(&self, names: &[String]) -> GroupKey {
        let mut cols = Vec::new();
        for n in names {
            if let Some(c) = self.column(n) {
                let value = c
                    .values
                    .first()
                    .cloned()
                    .or_else(|| self.key.get(n).cloned())
                    .unwrap_or(Value::Null);
                cols.push(KeyColumn {
                    name: n.clone(),
                    ty: c.ty,
                    value,
                });
            }
        }
        GroupKey { columns: cols }
    }
}

/// Routes rows into tables by a key computed per row, keeping first-appearance order.
#[derive(Default)]
pub struct Partitioner {
    index: HashMap<String, usize>,
    pub tables: Vec<Table>,
}

impl Partitioner {
    /// Appends `row` (cells in `schema` order) to the table of `key`, creating it with `schema`.
    /// A row whose schema differs from the existing table's gets its missing columns as nulls and
    /// extends the table with new columns (filled with nulls for earlier rows). A column that
    /// would hold two types is a schema collision, reported with the column's name.
    pub fn push(
        &mut self,
        key: GroupKey,
        schema: &[(String, DataType)],
        row: Vec<Value>,
    ) -> Result<(), String> {
        let id = key.identity();
        let ti = match self.index.get(&id) {
            Some(&i) => i,
            None => {
                self.tables.push(Table::empty(key, schema));
                self.index.insert(id, self.tables.len() - 1);
                self.tables.len() - 1
            }
        };
        let t = &mut self.tables[ti];
        let n = t.nrows();
        let same = t.columns.len() == schema.len()
            && t.columns
                .iter()
                .zip(schema)
                .all(|(c, (name, ty))| &c.name == name && c.ty == *ty);
        if same {
            for (c, v) in t.columns.iter_mut().zip(row) {
                c.values.push(v);
            }
            return Ok(());
        }
        for (j, (name, ty)) in schema.iter().enumerate() {
            match t.col_index(name) {
                None => t.columns.push(Column {
                    name: name.clone(),
                    ty: *ty,
                    values: vec![Value::Null; n],
                }),
                Some(i) => {
                    if t.columns[i].ty != *ty && !row[j].is_null() {
                        return Err(format!(
                            "schema collision: column {name:?} is both {} and {}",
                            t.columns[i].ty.flux_name(),
                            ty.flux_name()
                        ));
                    }
                }
            }
        }
        let mut row: Vec<Option<Value>> = row.into_iter().map(Some).collect();
        for c in t.columns.iter_mut() {
            let v = schema
                .iter()
                .position(|(name, _)| *name == c.name)
                .and_then(|j| row[j].take())
                .unwrap_or(Value::Null);
            c.values.push(v);
        }
        Ok(())
    }

    /// Makes sure a (possibly empty) table exists for `key`.
    pub fn ensure(&mut self, key: GroupKey, schema: &[(String, DataType)]) {
        let id = key.identity();
        if !self.index.contains_key(&id) {
            self.tables.push(Table::empty(key, schema));
            self.index.insert(id, self.tables.len() - 1);
        }
    }
}

/// One result of a query: the tables of one `yield`, named by it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    pub name: String,
    pub tables: Vec<Table>,
}
