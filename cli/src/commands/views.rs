//! `cartrack plan show` and `cartrack debug offers`: views the scheduler computes; the CLI
//! prints them as an outline (or unchanged with --json).

use std::process::ExitCode;

use crate::api::Client;
use crate::args::Output;
use crate::{render, stdout};

pub async fn show(client: &Client, output: Output, path: &str) -> anyhow::Result<ExitCode> {
    let view = client.get_json(path).await?;
    match output {
        Output::Json => stdout::json(&view)?,
        Output::Human => stdout::text(&render::outline(&view))?,
    }
    Ok(ExitCode::SUCCESS)
}
