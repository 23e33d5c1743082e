//! nginx's own words: the reason phrase of each status line and the built-in error pages
//! (`<html>…<hr><center>nginx/1.22.1</center>…`), byte for byte, with the padding nginx adds
//! for MSIE and Chrome so their "friendly" pages do not replace it.

use bytes::Bytes;

use crate::defaults::NGINX_VERSION;

/// The reason phrase nginx writes after a status code.
pub fn reason(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        401 => "Unauthorized",
        _ => return title(status),
    })
}

/// The `<title>` of the error page for `status` (also the reason phrase for most).
fn title(status: u16) -> Option<&'static str> {
    Some(match status {
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Authorization Required",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => return None,
    })
}

const PADDING_LINE: &str = "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n";

/// nginx's "request header too large": answered as a 400 with its own page.
pub const TOO_LARGE_HEADER: u16 = 494;

/// nginx's "plain HTTP request was sent to HTTPS port": a 400 with its own page.
pub const PLAIN_TO_HTTPS: u16 = 497;

/// The status nginx writes in the status line and the access log for `status`: its own
/// codes 494 to 497 are 400s with a page that says why.
pub fn shown(status: u16) -> u16 {
    match status {
        494..=497 => 400,
        _ => status,
    }
}

/// What nginx's pages for its own 400s (494 to 497) say after "400 ".
fn why_400(status: u16) -> Option<&'static str> {
    Some(match status {
        TOO_LARGE_HEADER => "Request Header Or Cookie Too Large",
        495 => "The SSL certificate error",
        496 => "No required SSL certificate was sent",
        PLAIN_TO_HTTPS => "The plain HTTP request was sent to HTTPS port",
        _ => return None,
    })
}

/// nginx's page for `status`, `None` when nginx has none (the response is then empty).
/// `padded` adds the MSIE/Chrome padding (4xx and 5xx only); `version` is `server_tokens`.
pub fn page(status: u16, padded: bool, version: bool) -> Option<Bytes> {
    let head = if let Some(why) = why_400(status) {
        format!(
            "<html>\r\n<head><title>400 {why}</title></head>\r\n<body>\r\n\
             <center><h1>400 Bad Request</h1></center>\r\n<center>{why}</center>\r\n"
        )
    } else {
        let title = title(status)?;
        format!(
            "<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n\
             <center><h1>{status} {title}</h1></center>\r\n"
        )
    };
    let name = if version {
        format!("nginx/{NGINX_VERSION}")
    } else {
        "nginx".to_string()
    };
    let mut page = format!("{head}<hr><center>{name}</center>\r\n</body>\r\n</html>\r\n");
    if padded && status >= 400 {
        for _ in 0..6 {
            page.push_str(PADDING_LINE);
        }
    }
    Some(Bytes::from(page))
}

/// Statuses after which nginx closes the connection instead of keeping it alive.
pub fn closes_connection(status: u16) -> bool {
    matches!(status, 400 | 413 | 414 | 494..=497 | 500 | 501)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_502_page_is_nginx_s() {
        let expected = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
            <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n\
            </body>\r\n</html>\r\n";
        assert_eq!(page(502, false, true).as_deref(), Some(expected.as_bytes()));
        let quiet = page(404, false, false).expect("page");
        assert!(String::from_utf8_lossy(&quiet).contains("<hr><center>nginx</center>"));
        assert_eq!(reason(504), Some("Gateway Time-out"));
        assert_eq!(reason(302), Some("Moved Temporarily"));
        assert!(page(200, false, true).is_none());
        let too_large = page(TOO_LARGE_HEADER, false, true).expect("494 page");
        assert!(too_large.starts_with(b"<html>\r\n<head><title>400 Request Header Or Cookie"));
    }

    #[test]
    fn padding_is_six_lines() {
        let padded = page(404, true, true).expect("page");
        assert_eq!(
            padded.len(),
            page(404, false, true).expect("page").len() + 6 * PADDING_LINE.len()
        );
    }
}
