//! `listen` as nginx reads it: a port range is one socket per port, and `[::1]` listens on
//! IPv6 (that part is skipped where the machine has no IPv6 loopback).

use std::net::{SocketAddr, TcpListener};

use ngxr::cli::Paths;
use ngxr::runtime::Server;

use crate::support::{body, get};

/// A port P such that P and P+1 are free on 127.0.0.1 (and on ::1 when `v6`).
fn two_free_ports(v6: bool) -> u16 {
    for _ in 0..50 {
        let p = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let Some(next) = p.checked_add(1) else {
            continue;
        };
        let hosts: &[&str] = if v6 {
            &["127.0.0.1", "[::1]"]
        } else {
            &["127.0.0.1"]
        };
        let held: Vec<_> = hosts
            .iter()
            .flat_map(|h| [p, next].map(|port| TcpListener::bind(format!("{h}:{port}"))))
            .collect();
        if held.iter().all(Result::is_ok) {
            return p;
        }
    }
    panic!("no two consecutive free ports");
}

#[tokio::test]
async fn a_port_range_listens_on_each_port_on_ipv4_and_ipv6() {
    let v6 = TcpListener::bind("[::1]:0").is_ok();
    if !v6 {
        eprintln!("IPv6 part skipped: no ::1 loopback");
    }
    let p = two_free_ports(v6);
    let q = p + 1;
    let dir = std::env::temp_dir().join(format!("ngxr-listen-{}-{p}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let v6_listen = if v6 {
        format!("listen [::1]:{p}-{q};")
    } else {
        String::new()
    };
    let conf = format!(
        "events {{}}\nhttp {{ access_log off;\n\
         server {{ listen 127.0.0.1:{p}-{q}; {v6_listen}\n\
         location / {{ return 200 \"$server_addr:$server_port\"; }} }} }}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("write conf");
    let site = ngxr::load::site_for_serving(&Paths::resolve(Some(&dir), Some(&path)), None)
        .expect("the configuration loads");
    let running = Server::start(site).expect("server starts");

    let mut want: Vec<(SocketAddr, String)> = vec![
        (
            SocketAddr::from(([127, 0, 0, 1], p)),
            format!("127.0.0.1:{p}"),
        ),
        (
            SocketAddr::from(([127, 0, 0, 1], q)),
            format!("127.0.0.1:{q}"),
        ),
    ];
    if v6 {
        let lo = std::net::Ipv6Addr::LOCALHOST;
        want.push((SocketAddr::from((lo, p)), format!("::1:{p}")));
        want.push((SocketAddr::from((lo, q)), format!("::1:{q}")));
    }
    let mut bound = running.local_addrs();
    bound.sort();
    let mut expected: Vec<SocketAddr> = want.iter().map(|(a, _)| *a).collect();
    expected.sort();
    assert_eq!(bound, expected);
    for (addr, server) in want {
        assert_eq!(body(&get(addr, "/").await), server, "{addr}");
    }
}
