//! One module per command; `run` dispatches a validated [`Args`]. Commands print on stdout only
//! through [`crate::stdout`], which turns a closed pipe into a quiet end.

mod autoscale;
mod config;
mod diagnosis;
mod plan;
mod pods;
mod report;
mod scale;
mod status;
mod uninstall;
mod update;
mod views;

use std::process::ExitCode;

use crate::api::Client;
use crate::args::{Action, Args};
use crate::stdout;

/// Runs one validated command against the scheduler.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.target.clone())?;
    let output = args.output;
    match args.action {
        Action::Status => status::run(&client, output).await,
        Action::Scale { group, count, wait } => {
            scale::run(&client, output, &group, count, wait).await
        }
        Action::PodsList => pods::list(&client, output).await,
        Action::PodStatus(slot) => pods::status(&client, output, &slot).await,
        Action::PodAction { slot, kind } => pods::act(&client, output, &slot, kind).await,
        Action::PlanShow => plan::show(&client, output).await,
        Action::Plan(action) => plan::steer(&client, output, &action).await,
        Action::Update(update) => update::run(&client, output, &update).await,
        Action::ConfigShow(id) => config::show(&client, output, id).await,
        Action::ConfigDiff { a, b } => config::diff(&client, output, a, b).await,
        Action::DebugOffers => views::show(&client, output, views::View::DebugOffers).await,
        Action::AutoscaleShow => views::show(&client, output, views::View::Autoscale).await,
        Action::AutoscaleResume(group) => autoscale::resume(&client, output, &group).await,
        Action::Uninstall { yes, wait } => uninstall::run(&client, output, yes, wait).await,
        Action::ReportUtilisation { since } => report::utilisation(&client, output, since).await,
        Action::Local(local) => crate::local::run(local).await,
        Action::Info => {
            stdout::line(crate::PLUGIN_INFO)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
