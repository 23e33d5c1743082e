//! `ngxr explain` end to end: small configurations in a temp dir, the JSON report checked,
//! and (where Debian's nginx is installed) the upstream request explain predicts compared
//! with the one nginx really sends to a recording backend.

// Helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{EMPTY_200, free_port, nginx, recording_backend, start_server, temp_dir};

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// Runs `ngxr explain --format json` on `conf`; the report, or stderr on failure.
fn explain(dir: &Path, conf: &str, args: &[&str]) -> Result<Value, String> {
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ngxr"))
        .arg("explain")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .args(["--format", "json"])
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The seeds' WebSocket shape: map, upstream of two, HTTP/1.1 with Upgrade/Connection.
fn websocket_conf(listen: u16, b1: u16, b2: u16) -> String {
    format!(
        "daemon off;
master_process off;
pid nginx.pid;
error_log error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    proxy_read_timeout 60;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream websocket {{
        server 127.0.0.1:{b1};
        server 127.0.0.1:{b2} backup;
    }}
    server {{
        listen 127.0.0.1:{listen};
        server_name a.example;
        location / {{ return 404; }}
        location /chat/ {{
            proxy_pass http://websocket/ws/;
            proxy_read_timeout 300s;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }}
    }}
}}
"
    )
}

#[test]
fn explains_a_websocket_route() {
    let dir = temp_dir("ws");
    let report = explain(
        &dir,
        &websocket_conf(18080, 18001, 18002),
        &[
            "GET /chat/room?x=1",
            "-H",
            "Host: A.example",
            "-H",
            "Upgrade: websocket",
            "-H",
            "Connection: Upgrade",
            "--remote-addr",
            "10.1.2.3",
        ],
    )
    .unwrap();
    assert_eq!(report["server"]["names"][0], "a.example");
    assert_eq!(report["server"]["line"], 17);
    assert_eq!(report["location"]["match"], "/chat/");
    assert_eq!(report["location"]["line"], 21);
    assert_eq!(report["variables"]["connection_upgrade"], "upgrade");
    assert_eq!(report["variables"]["host"], "a.example");
    assert_eq!(report["upstream"]["name"], "websocket");
    assert_eq!(report["upstream"]["policy"], "round_robin");
    assert_eq!(report["upstream"]["servers"][1]["backup"], true);
    let q = &report["upstream_request"];
    assert_eq!(q["method"], "GET");
    assert_eq!(q["uri"], "/ws/room?x=1");
    assert_eq!(q["version"], "HTTP/1.1");
    assert_eq!(q["read_timeout_ms"], 300_000);
    assert!(q["tunnel"].as_str().unwrap().starts_with("yes"));
    let headers: Vec<(String, String)> = serde_json::from_value(q["headers"].clone()).unwrap();
    let expected = [
        ("Host", "a.example"),
        ("X-Real-IP", "10.1.2.3"),
        ("X-Forwarded-For", "10.1.2.3"),
        ("Upgrade", "websocket"),
        ("Connection", "upgrade"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(headers, expected);
}

#[test]
fn explains_the_redirect_and_the_candidates() {
    let dir = temp_dir("redirect");
    let report = explain(
        &dir,
        &websocket_conf(18081, 18001, 18002),
        &["GET /chat", "-H", "Host: a.example"],
    )
    .unwrap();
    assert_eq!(report["response"]["status"], 301);
    assert_eq!(
        report["response"]["headers"][0][1],
        "http://a.example:18081/chat/"
    );
    let verdicts: Vec<&str> = report["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["match"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["/", "/chat/"]);
}

#[test]
fn prints_a_human_report() {
    let dir = temp_dir("human");
    std::fs::write(dir.join("nginx.conf"), websocket_conf(18083, 18001, 18002)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ngxr"))
        .args(["explain", "-c"])
        .arg(dir.join("nginx.conf"))
        .args([
            "GET /chat/a",
            "-H",
            "Host: a.example",
            "-H",
            "Upgrade: websocket",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("location  "), "{text}");
    assert!(text.contains("upstream  websocket (round_robin)"), "{text}");
    assert!(text.contains("GET /ws/a HTTP/1.1"), "{text}");
    assert!(text.contains("Connection: upgrade"), "{text}");
}

#[test]
fn explains_a_request_on_a_unix_socket_from_a_unix_client() {
    let dir = temp_dir("unix");
    let sock = dir.join("u.sock");
    let conf = format!(
        "events {{}} http {{
           server {{ listen 127.0.0.1:18084; return 200 tcp; }}
           server {{ listen unix:{0}; server_name one; return 200 one; }}
           server {{ listen unix:{0}; server_name two;
                     return 200 \"$remote_addr|$remote_port|$server_addr|$server_port\"; }} }}",
        sock.display()
    );
    let listen = format!("--listen=unix:{}", sock.display());
    let args = ["GET /", "-H", "Host: two", &listen, "--remote-addr=unix:"];
    let report = explain(&dir, &conf, &args).unwrap();
    assert_eq!(report["response"]["status"], 200);
    let body = format!("unix:||unix:{}|", sock.display());
    assert_eq!(report["response"]["body"], body.as_str(), "{report:#}");
    let args = ["GET /", "-H", "Host: one", &listen];
    let report = explain(&dir, &conf, &args).unwrap();
    assert_eq!(report["response"]["body"], "one", "{report:#}");
}

#[test]
fn refuses_a_configuration_with_errors() {
    let dir = temp_dir("errors");
    let err = explain(
        &dir,
        "events {} http { server { listen 127.0.0.1:18082; location / { proxy_set_header X $nope; proxy_pass http://127.0.0.1:1; } } }",
        &["GET /", "-H", "Host: x"],
    )
    .unwrap_err();
    assert!(err.contains("unknown \"nope\" variable"), "{err}");
}

#[test]
fn nginx_sends_what_explain_predicts() {
    let Some(nginx) = nginx() else { return };
    let dir = temp_dir("explain-differential");
    let (b1, rx) = recording_backend(EMPTY_200);
    let listen = free_port();
    let conf = websocket_conf(listen, b1, free_port());
    let request_headers = [
        ("Host", "a.example"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("X-Forwarded-For", "9.9.9.9"),
        ("Keep-Alive", "3"),
        ("X-Client", "c"),
    ];
    let mut args = vec!["GET /chat/x/../room%20a?q=1".to_string()];
    for (n, v) in request_headers {
        args.push("-H".into());
        args.push(format!("{n}: {v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = explain(&dir, &conf, &args).unwrap();
    let q = &report["upstream_request"];
    let mut predicted = format!(
        "{} {} {}\r\n",
        q["method"].as_str().unwrap(),
        q["uri"].as_str().unwrap(),
        q["version"].as_str().unwrap()
    );
    for h in q["headers"].as_array().unwrap() {
        predicted.push_str(&format!(
            "{}: {}\r\n",
            h[0].as_str().unwrap(),
            h[1].as_str().unwrap()
        ));
    }
    predicted.push_str("\r\n");

    let _nginx = start_server(nginx, &dir, listen);
    let mut client = TcpStream::connect(("127.0.0.1", listen)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut raw = "GET /chat/x/../room%20a?q=1 HTTP/1.1\r\n".to_string();
    for (n, v) in request_headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    client.write_all(raw.as_bytes()).unwrap();
    let seen = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the backend received nothing");
    assert_eq!(seen, predicted);
}
