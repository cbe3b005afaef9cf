//! Why a model could not be built or loaded.

/// Why a model could not be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The JSON config is invalid.
    #[error("config: {0}")]
    Config(String),
    /// A tensor is missing, mis-shaped, of the wrong dtype, or non-finite.
    #[error("tensor {name}: {why}")]
    Tensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// The safetensors container could not be parsed.
    #[error("weight file: {0}")]
    Format(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}
