//! When access-log lines reach their file, against nginx: each line as its request ends,
//! unless `buffer=` gathers them (then at exit, or once `flush=` has passed).

use std::time::{Duration, Instant};

use crate::common::{free_port, nginx, temp_dir};
use crate::files::{exchange, start};

const CONFIG: &str = "
events {}
http {
    log_format short '$request_uri $status';
    server {
        listen 127.0.0.1:PORT;
        location /now { access_log logs/now.log short; return 200 now; }
        location /later { access_log logs/later.log short buffer=64k; return 200 later; }
        location /soon { access_log logs/soon.log short buffer=64k flush=1s; return 200 soon; }
    }
}
";

/// The lines of `name` under `prefix`'s logs while the server still runs.
fn lines(prefix: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(prefix.join("logs").join(name)).unwrap_or_default()
}

/// The lines of `name` once it has some, waiting up to `within` (a loaded machine may take
/// a while to run the server); empty if it has none by then.
fn first_lines(prefix: &std::path::Path, name: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let seen = lines(prefix, name);
        if !seen.is_empty() || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn lines_reach_the_file_as_requests_end_unless_buffered() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("access-log-timing");
    let seen = [(nginx, "nginx"), (env!("CARGO_BIN_EXE_ngxr"), "ngxr")].map(|(bin, name)| {
        let (prefix, port) = (base.join(name), free_port());
        let server = start(bin, &prefix, CONFIG, &base, port, 0);
        exchange(port, "GET /now?a HTTP/1.1\r\nHost: t\r\n");
        exchange(port, "GET /later?b HTTP/1.1\r\nHost: t\r\n");
        exchange(port, "GET /soon?c HTTP/1.1\r\nHost: t\r\n");
        let at_once = (
            first_lines(&prefix, "now.log", Duration::from_secs(2)),
            lines(&prefix, "later.log"),
        );
        // `flush=1s` (ngxr checks every second); `later` waits still.
        let flushed = (
            first_lines(&prefix, "soon.log", Duration::from_secs(4)),
            lines(&prefix, "later.log"),
        );
        drop(server);
        (at_once, flushed)
    });
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1].0, ("/now?a 200\n".to_string(), String::new()));
    assert_eq!(seen[1].1, ("/soon?c 200\n".to_string(), String::new()));
}
