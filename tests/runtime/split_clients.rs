//! `split_clients` against nginx: many keys through the same blocks must land in the same
//! parts (nginx's MurmurHash2 and bounds), including a line without a value (which takes the
//! last one given), a percentage cut to 32 bits, a later block taking the variable over, and
//! `set` giving the variable a value of its own.

use crate::common::{nginx, temp_dir};
use crate::files::through_both;

const CONFIG: &str = r#"
events {}
http {
    access_log off;
    split_clients "k$arg_k" $v { 50%; 20% "second"; 10%; * ""; }
    split_clients "$arg_k" $w { 0.5% a; 4294967297% b; 2% c; }
    split_clients "$arg_k" $x { 50% a; * b; }
    split_clients "$arg_k" $x { 50% c; * d; }
    split_clients "$http_x$remote_addr" $y { 33.33% one; 33.33% two; 33.33% three; }
    server {
        listen 127.0.0.1:PORT;
        location / { return 200 "[$v][$w][$x][$y]\n"; }
        location /set { set $x "$x-set"; return 200 "[$x]\n"; }
    }
}
"#;

#[test]
fn keys_land_in_nginx_s_parts() {
    let Some(nginx) = nginx() else { return };
    let base = temp_dir("split-clients");
    let mut probes: Vec<String> = (0..120)
        .map(|k| format!("GET /?k={k}{} HTTP/1.1\r\nHost: a\r\nX: {k}\r\n", k * 7919))
        .collect();
    probes.push("GET /set?k=1 HTTP/1.1\r\nHost: a\r\n".into());
    let seen = through_both(nginx, CONFIG, &base, &probes);
    assert_eq!(seen[0].0, seen[1].0);
    // Every part of `$y` was chosen for some key.
    for part in ["[one]", "[two]", "[three]", "[]"] {
        assert!(seen[1].0.iter().any(|a| a.contains(part)), "{part}");
    }
}
