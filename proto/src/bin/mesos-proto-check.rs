//! A self-check of the protocol crate on this machine: builds the calls and events cartrack
//! exchanges with Mesos, frames them as RecordIO, decodes them back and prints what it saw.
//! It needs no Mesos: it shows that the generated types and the codec agree end to end.

use std::process::ExitCode;

use bytes::BytesMut;
use mesos_proto::recordio::MessageCodec;
use mesos_proto::v1::{self, scheduler};
use tokio_util::codec::{Decoder, Encoder};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mesos-proto self-check failed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let subscribe = scheduler::Call {
        r#type: Some(scheduler::call::Type::Subscribe as i32),
        subscribe: Some(scheduler::call::Subscribe {
            framework_info: v1::FrameworkInfo {
                user: "nobody".into(),
                name: "cartrack".into(),
                failover_timeout: Some(7.0 * 24.0 * 3600.0),
                checkpoint: Some(true),
                roles: vec!["cartrack".into()],
                capabilities: vec![v1::framework_info::Capability {
                    r#type: Some(v1::framework_info::capability::Type::MultiRole as i32),
                }],
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let heartbeat = scheduler::Event {
        r#type: Some(scheduler::event::Type::Heartbeat as i32),
        ..Default::default()
    };

    let mut calls = MessageCodec::<scheduler::Call>::default();
    let mut wire = BytesMut::new();
    calls.encode(&subscribe, &mut wire)?;
    let framed_len = wire.len();
    let decoded = calls
        .decode_eof(&mut wire)?
        .ok_or("SUBSCRIBE did not decode")?;
    if decoded != subscribe {
        return Err("SUBSCRIBE changed on a round trip".into());
    }
    println!("SUBSCRIBE call: {framed_len} bytes framed, round trip ok");

    let mut events = MessageCodec::<scheduler::Event>::default();
    for _ in 0..3 {
        events.encode(&heartbeat, &mut wire)?;
    }
    let mut seen = 0;
    // Feed the stream one byte at a time, as the worst-case HTTP chunking would.
    let stream = wire.split().freeze();
    for byte in stream.iter() {
        wire.extend_from_slice(&[*byte]);
        while let Some(event) = events.decode(&mut wire)? {
            if event != heartbeat {
                return Err("HEARTBEAT changed on a round trip".into());
            }
            seen += 1;
        }
    }
    println!("HEARTBEAT events: {seen} decoded from a byte-at-a-time stream");

    let descriptors = <prost_types::FileDescriptorSet as prost::Message>::decode(
        mesos_proto::FILE_DESCRIPTOR_SET,
    )?;
    let messages: usize = descriptors
        .file
        .iter()
        .map(|f| count_messages(&f.message_type))
        .sum();
    println!(
        "descriptors: {} files, {messages} messages (mesos.v1, mesos.v1.scheduler, mesos.v1.executor)",
        descriptors.file.len()
    );
    println!("mesos-proto self-check: ok");
    Ok(())
}

fn count_messages(messages: &[prost_types::DescriptorProto]) -> usize {
    messages
        .iter()
        .map(|m| 1 + count_messages(&m.nested_type))
        .sum()
}
