//! The explain report for people: one decision per line, positions as `file:line`.

use serde_json::Value;

/// The same report for people.
pub fn human(r: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let at = |v: &Value| format!("{}:{}", s(&v["file"]), v["line"]);
    let mut out = Vec::new();
    if !r["server"].is_null() {
        let names: Vec<String> = r["server"]["names"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                if n.as_str() == Some("") {
                    "\"\"".to_string()
                } else {
                    s(n)
                }
            })
            .collect();
        let names = if names.is_empty() {
            "(none)".to_string()
        } else {
            names.join(" ")
        };
        out.push(format!(
            "server    {}  server_name {names}",
            at(&r["server"])
        ));
        out.push(format!("          because: {}", s(&r["server"]["why"])));
    }
    if !r["location"].is_null() {
        out.push(format!(
            "location  {}  location {}",
            at(&r["location"]),
            s(&r["location"]["match"])
        ));
    }
    for c in r["candidates"].as_array().into_iter().flatten() {
        out.push(format!(
            "          {}  {:<20} {}",
            at(c),
            s(&c["match"]),
            s(&c["verdict"])
        ));
    }
    if !r["if_block"].is_null() {
        out.push(format!(
            "if        {}  its condition held: the request goes on with this block's settings",
            at(&r["if_block"])
        ));
    }
    if let Some(vars) = r["variables"].as_object().filter(|v| !v.is_empty()) {
        out.push("variables".into());
        for (name, value) in vars {
            out.push(format!("          ${name} = {value}"));
        }
    }
    for n in r["notes"].as_array().into_iter().flatten() {
        out.push(format!("note      {}", s(n)));
    }
    if !r["upstream"].is_null() {
        let u = &r["upstream"];
        let servers: Vec<String> = u["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("{} weight={}", s(&p["addr"]), p["weight"]))
            .collect();
        out.push(format!(
            "upstream  {} ({}): {}",
            s(&u["name"]),
            s(&u["policy"]),
            servers.join(", ")
        ));
    }
    let q = &r["upstream_request"];
    if !q.is_null() {
        out.push("upstream request".into());
        out.push(format!(
            "          {} {} {}",
            s(&q["method"]),
            s(&q["uri"]),
            s(&q["version"])
        ));
        for h in q["headers"].as_array().into_iter().flatten() {
            out.push(format!("          {}: {}", s(&h[0]), s(&h[1])));
        }
        if !q["body"].is_null() {
            out.push(format!("body      {}", s(&q["body"])));
        }
        out.push(format!("tunnel    {}", s(&q["tunnel"])));
    }
    let a = &r["response"];
    if !a.is_null() {
        out.push(format!("response  {}", a["status"]));
        for h in a["headers"].as_array().into_iter().flatten() {
            out.push(format!("          {}: {}", s(&h[0]), s(&h[1])));
        }
    }
    out.join("\n")
}
