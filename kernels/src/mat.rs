use crate::error::{need, KernelError};

fn span(rows: usize, cols: usize, stride: usize, what: &'static str) -> Result<usize, KernelError> {
    if stride < cols {
        return Err(KernelError::BadStride { what });
    }
    if rows == 0 || cols == 0 {
        return Ok(0);
    }
    (rows - 1)
        .checked_mul(stride)
        .and_then(|v| v.checked_add(cols))
        .ok_or(KernelError::OutOfRange { what })
}

/// A borrowed row-major f32 matrix view: `rows × cols`, rows `stride` apart.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    stride: usize,
}

impl<'a> MatRef<'a> {
    /// A dense view (`stride == cols`); checks the slice is long enough.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        Self::with_stride(data, rows, cols, cols)
    }
    /// A strided view; checks `stride >= cols` and the slice length.
    pub fn with_stride(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        stride: usize,
    ) -> Result<Self, KernelError> {
        need("matrix", span(rows, cols, stride, "matrix")?, data.len())?;
        Ok(Self {
            data,
            rows,
            cols,
            stride,
        })
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Distance between row starts, in elements.
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Row `i` (panics if `i >= rows`, like slice indexing).
    #[inline]
    pub fn row(&self, i: usize) -> &'a [f32] {
        assert!(i < self.rows, "row {i} of {}", self.rows);
        if self.cols == 0 {
            // A zero-width view may be backed by an empty slice whatever its stride.
            return &[];
        }
        &self.data[i * self.stride..i * self.stride + self.cols]
    }
    /// The underlying slice.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }
    pub(crate) fn ptr(&self) -> *const f32 {
        self.data.as_ptr()
    }
}

/// A mutable row-major f32 matrix view: `rows × cols`, rows `stride` apart.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    stride: usize,
}

impl<'a> MatMut<'a> {
    /// A dense view (`stride == cols`); checks the slice is long enough.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        Self::with_stride(data, rows, cols, cols)
    }
    /// A strided view; checks `stride >= cols` and the slice length.
    pub fn with_stride(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        stride: usize,
    ) -> Result<Self, KernelError> {
        need(
            "output matrix",
            span(rows, cols, stride, "output matrix")?,
            data.len(),
        )?;
        Ok(Self {
            data,
            rows,
            cols,
            stride,
        })
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Distance between row starts, in elements.
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Row `i`, mutable (panics if `i >= rows`, like slice indexing).
    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        assert!(i < self.rows, "row {i} of {}", self.rows);
        if self.cols == 0 {
            return &mut [];
        }
        &mut self.data[i * self.stride..i * self.stride + self.cols]
    }
    /// Reborrow as a shorter-lived mutable view.
    pub fn rb(&mut self) -> MatMut<'_> {
        MatMut {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            stride: self.stride,
        }
    }
    /// Read-only view of the same matrix.
    pub fn as_ref(&self) -> MatRef<'_> {
        MatRef {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            stride: self.stride,
        }
    }
    pub(crate) fn ptr(&mut self) -> *mut f32 {
        self.data.as_mut_ptr()
    }
}
