//! Building Arrow record batches: the one shape in which tables leave the core
//! (for pandas, polars and the command line's JSON).

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

/// Column-by-column builder of a [`RecordBatch`].
#[derive(Default)]
pub struct TableBuilder {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl TableBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn str<S: AsRef<str>>(
        mut self,
        name: &str,
        values: impl IntoIterator<Item = Option<S>>,
    ) -> Self {
        let arr: StringArray = values.into_iter().collect();
        self.fields.push(Field::new(name, DataType::Utf8, true));
        self.columns.push(Arc::new(arr));
        self
    }

    pub fn i64(mut self, name: &str, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        let arr: Int64Array = values.into_iter().collect();
        self.fields.push(Field::new(name, DataType::Int64, true));
        self.columns.push(Arc::new(arr));
        self
    }

    pub fn f32(mut self, name: &str, values: impl IntoIterator<Item = f32>) -> Self {
        let arr: Float32Array = values.into_iter().map(Some).collect();
        self.fields.push(Field::new(name, DataType::Float32, false));
        self.columns.push(Arc::new(arr));
        self
    }

    /// A float column; NaN becomes null (an undefined ratio).
    pub fn f64(mut self, name: &str, values: impl IntoIterator<Item = f64>) -> Self {
        let arr: Float64Array = values
            .into_iter()
            .map(|v| (!v.is_nan()).then_some(v))
            .collect();
        self.fields.push(Field::new(name, DataType::Float64, true));
        self.columns.push(Arc::new(arr));
        self
    }

    pub fn build(self) -> RecordBatch {
        let schema = Arc::new(Schema::new(self.fields));
        if self.columns.is_empty() {
            return RecordBatch::new_empty(schema);
        }
        RecordBatch::try_new(schema, self.columns).expect("columns have equal lengths")
    }
}
