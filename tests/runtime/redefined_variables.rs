//! A variable that several `map`, `geo` and `split_clients` blocks define, against nginx:
//! nginx accepts it (they add the variable as changeable) and the last block read gives the
//! value, whatever its kind; `set` still stores a value of its own, and a `volatile` map of
//! the name keeps the variable from being cached even when another block defines it later.

use crate::common::{nginx, temp_dir};
use crate::files::{assert_same, through_both};

const CONFIG: &str = r#"
events {}
http {
    access_log off;
    map $arg_a $v { default map; x mapx; }
    geo $v { default geo; }
    map $arg_b $w { default first; }
    map $arg_c $w { default second; }
    split_clients $arg_d $s { 50% one; * two; }
    map $arg_e $s { default map; }
    geo $g { default geo; }
    split_clients $arg_d $g { 50% one; * two; }
    map $uri $c { volatile; default "first:$uri"; }
    map $uri $c { default "second:$uri"; }
    server {
        listen 127.0.0.1:PORT;
        location / { return 200 "$v $w $s $g\n"; }
        location /set { set $v set; set $w set; return 200 "$v $w\n"; }
        location /r/ { if ($c) { } rewrite ^ /c/ last; }
        location /c/ { return 200 "$c\n"; }
    }
}
"#;

#[test]
fn the_last_block_defining_a_variable_gives_its_value() {
    let Some(nginx) = nginx() else { return };
    let probes: Vec<String> = ["/?a=x&d=1", "/?d=2", "/set", "/r/"]
        .iter()
        .map(|p| format!("GET {p} HTTP/1.1\r\nHost: a\r\n"))
        .collect();
    let seen = through_both(nginx, CONFIG, &temp_dir("redefined-variables"), &probes);
    assert_same(&seen, &probes);
    let body = |i: usize| seen[1].0[i].rsplit("\r\n").next().unwrap_or_default();
    assert_eq!(body(0), "geo second map one\n");
    assert_eq!(body(2), "set set\n");
    assert_eq!(body(3), "second:/c/\n");
}
