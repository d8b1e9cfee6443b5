//! The protocol on standard input and output, forgiving of malformed messages.
//!
//! lsp-server's own stdio transport stops at the first message that is not valid JSON-RPC;
//! this one reports it on standard error and reads on, so nothing a client writes stops
//! the server but `exit` or the end of its input.

use std::io::{self, BufRead, Read, Write};
use std::thread;

use lsp_server::{Connection, Message};

/// Messages larger than this are skipped unread rather than allocated.
const MAX_MESSAGE: usize = 256 * 1024 * 1024;

/// Serves a client on standard input and output.
pub fn run_stdio() -> Result<(), String> {
    let (server, bridge) = Connection::memory();
    let Connection {
        sender: to_server,
        receiver: from_server,
    } = bridge;
    let writer = thread::spawn(move || -> io::Result<()> {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        for message in from_server {
            message.write(&mut out)?;
            out.flush()?;
        }
        Ok(())
    });
    // The reader is not joined: once the server has stopped it may still be waiting for
    // input, and it ends with the process.
    thread::spawn(move || {
        let stdin = io::stdin();
        let mut input = stdin.lock();
        loop {
            match read_message(&mut input) {
                Ok(Some(Ok(message))) => {
                    let exit = matches!(&message, Message::Notification(n) if n.method == "exit");
                    if to_server.send(message).is_err() || exit {
                        return;
                    }
                }
                Ok(Some(Err(error))) => {
                    let _ = writeln!(
                        io::stderr(),
                        "expc lsp: skipped a malformed message: {error}"
                    );
                }
                Ok(None) | Err(_) => return,
            }
        }
    });
    let served = crate::serve(server);
    writer
        .join()
        .map_err(|_| "the writer thread failed".to_owned())?
        .map_err(|e| e.to_string())?;
    served
}

/// Reads one message: `None` at the end of the input, `Some(Err)` for one that is not
/// valid (it has been consumed, so reading can go on).
pub fn read_message(input: &mut impl BufRead) -> io::Result<Option<Result<Message, String>>> {
    let mut length = None;
    let mut saw_header = false;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if saw_header {
                break;
            }
            continue;
        }
        saw_header = true;
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let Some(length) = length else {
        return Ok(Some(Err("no Content-Length header".to_owned())));
    };
    if length > MAX_MESSAGE {
        io::copy(&mut input.take(length as u64), &mut io::sink())?;
        return Ok(Some(Err(format!("a message of {length} bytes"))));
    }
    let mut body = vec![0; length];
    input.read_exact(&mut body)?;
    Ok(Some(
        serde_json::from_slice::<Message>(&body).map_err(|e| e.to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::read_message;

    #[test]
    fn malformed_messages_are_skipped() {
        let valid = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let input = format!(
            "Content-Length: 9\r\n\r\n{{nonsense\r\nX-Junk\r\n\r\nContent-Length: {}\r\n\r\n{valid}",
            valid.len()
        );
        let mut reader = std::io::BufReader::new(input.as_bytes());
        assert!(read_message(&mut reader).unwrap().unwrap().is_err());
        assert!(read_message(&mut reader).unwrap().unwrap().is_err());
        assert!(read_message(&mut reader).unwrap().unwrap().is_ok());
        assert!(read_message(&mut reader).unwrap().is_none());
    }
}
