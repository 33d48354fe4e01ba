//! A minimal Terraform provider for bosun's benchmarks only: an empty provider schema, no
//! resources, data sources or functions. `terraform plan` starts every provider a module
//! requires to read its schema; this one answers through the real plugin protocol (tfplugin6,
//! via the `tf-provider` crate), so a benchmark's projects can require it and plan.
//!
//! The same executable is installed under several names (`terraform-provider-NAME_v1.0.0`);
//! it serves the name its file carries.

use tf_provider::schema::{Block, Schema};
use tf_provider::{Diagnostics, DynamicProvider};

/// A provider with nothing in it.
struct Empty;

impl DynamicProvider for Empty {
    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(Schema {
            version: 1,
            block: Block::default(),
        })
    }
}

/// `alpha` from `.../terraform-provider-alpha_v1.0.0`.
fn name_from(program: &str) -> String {
    let file = program.rsplit('/').next().unwrap_or(program);
    let name = file.strip_prefix("terraform-provider-").unwrap_or(file);
    name.split('_').next().unwrap_or(name).to_owned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let program = std::env::args().next().unwrap_or_default();
    tf_provider::serve(name_from(&program), Empty).await
}
