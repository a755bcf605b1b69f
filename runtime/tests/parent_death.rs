//! A grandchild spawned with `die_with_parent` dies when its parent is SIGKILLed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cartrack_runtime::parent_death::{die_with_parent, Signal};
use rustix::process::{kill_process, test_kill_process, Pid};

/// Set in the middle process: it spawns the grandchild, prints its pid and waits to be killed
/// (or for its stdin to close, should the test itself fail and go).
const MIDDLE_ENV: &str = "CARTRACK_RUNTIME_PARENT_DEATH_MIDDLE";

#[test]
fn middle_process() {
    if std::env::var_os(MIDDLE_ENV).is_none() {
        return;
    }
    let mut sleeper = Command::new("sleep");
    sleeper.arg("120");
    die_with_parent(&mut sleeper, Signal::KILL);
    let mut child = sleeper.spawn().expect("spawn sleep");
    println!("grandchild: {}", child.id());
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    // Reached only if the test went away without killing us.
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_child_dies_with_its_parent() {
    let mut middle = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "middle_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MIDDLE_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the middle process");
    let stdout = middle.stdout.take().expect("piped stdout");
    let pid = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest prints the test's name first, on the same line.
        .find_map(|line| {
            line.split_once("grandchild: ")?
                .1
                .trim()
                .parse::<i32>()
                .ok()
        })
        .expect("the middle process names its child");
    let grandchild = Pid::from_raw(pid).expect("a positive pid");
    assert!(
        test_kill_process(grandchild).is_ok(),
        "grandchild not running"
    );

    middle.kill().expect("SIGKILL the middle process");
    middle.wait().expect("reap the middle process");
    // The grandchild is reparented (to init or a subreaper) and killed; once reaped its pid
    // no longer answers. A subreaper that does not reap would leave a zombie, which still
    // answers: treat that as gone too by reading its state.
    let deadline = Instant::now() + Duration::from_secs(30);
    while test_kill_process(grandchild).is_ok() && !is_zombie(pid) {
        if Instant::now() > deadline {
            let _ = kill_process(grandchild, Signal::KILL);
            panic!("grandchild {pid} outlived its parent");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(true)
}
