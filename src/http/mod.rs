//! HTTP/1.1 request heads and responses, IO-free. Parsing is `httparse`'s; this module only
//! turns its result into an owned [`RequestHead`], decides where a request's body ends
//! (`framing`), and renders small responses.

mod framing;
mod request;
mod response;

pub use request::{parse_head, query_pairs, HeadError, RequestHead};
pub use response::{json_response, Response};
