//! The LMTP listener (RFC 2033; issue 14 §2): the customer-service
//! mailbox's mail server delivers a copy of each message here, and each one
//! becomes an `email` contact through one call, `Kirjuri::receive_mail`.
//!
//! A small server of its own on tokio rather than `mailin` or `samotop`:
//! LMTP is a handful of commands, the crates are SMTP servers (no LHLO, no
//! per-recipient replies after DATA) and neither lets the limits below be
//! set per connection. It speaks LHLO, MAIL FROM (with `SIZE=` and
//! `BODY=`), RCPT TO, DATA (dot-unstuffed, the message kept with its line
//! endings as sent), RSET, NOOP and QUIT, and answers one reply per
//! recipient after DATA. Every recipient gets the same answer: the message
//! is stored once, as one contact, whoever it was addressed to.
//!
//! **Limits.** `SIZE` is advertised and enforced (`[email]
//! max_message_bytes`: declared too big 552 at MAIL, sent too big 552 after
//! DATA, the rest read and dropped); a command line longer than
//! [`MAX_COMMAND_BYTES`] closes the connection with 500; a DATA line longer
//! than the core's line bound is refused 554 after DATA; more than
//! `lmtp_max_recipients` recipients answer 452; a command line must arrive
//! whole within `lmtp_command_timeout_seconds` and a message within
//! `lmtp_data_timeout_seconds` (a slow sender is closed with 421); at
//! `lmtp_max_connections` a new connection is answered 421 and closed; ten
//! bad commands in a row close it with 421. A refused message stores
//! nothing. Answers quote nothing the sender sent.
//!
//! **Shutdown.** When the server's shutdown future resolves, no new
//! connection is taken and each session answers 421 at its next command; a
//! DATA in progress is finished and answered first.
//!
//! Not here: what a message must be (`kirjuri_core::message`), what becomes
//! of it (`kirjuri_app::messages`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::intake::Created;
use kirjuri_core::message::MAX_LINE_BYTES;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// The longest command line, CRLF included (RFC 5321 §4.5.3.1.4 allows 512;
/// some clients add parameters).
pub const MAX_COMMAND_BYTES: usize = 2048;

/// Bad commands in a row before the connection is closed.
const MAX_ERRORS: u32 = 10;

/// The name the server gives in its greeting and LHLO answer.
const NAME: &str = "kirjuri";

/// Serves LMTP on `listener` until `shutdown` resolves, then waits for the
/// sessions to finish their current command.
pub async fn serve(
    app: Kirjuri,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> kirjuri_app::Result<()> {
    let limits = Arc::new(Semaphore::new(app.config.email.lmtp_max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sessions = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: pause, go on.
                        tracing::warn!(error = %e, "lmtp accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let permit = limits.clone().try_acquire_owned();
                let (app, stop) = (app.clone(), stop_rx.clone());
                sessions.spawn(async move {
                    match permit {
                        Ok(_permit) => session(&app, stream, stop).await,
                        Err(_) => {
                            let mut stream = stream;
                            let _ = stream
                                .write_all(b"421 4.3.2 too many connections, try again later\r\n")
                                .await;
                        }
                    }
                });
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    let _ = stop_tx.send(true);
    while sessions.join_next().await.is_some() {}
    Ok(())
}

/// One transaction's envelope.
#[derive(Default)]
struct Envelope {
    /// MAIL FROM was given (the null sender is `Some(None)`).
    sender: Option<Option<String>>,
    /// How many recipients were accepted.
    recipients: usize,
}

/// What reading one line found.
enum Line {
    /// A whole line (its ending included), within the bound.
    Whole,
    /// The line passed the bound; what came so far was dropped.
    TooLong,
    /// The peer closed the connection.
    Closed,
}

/// Reads one line into `buf` (cleared first), keeping at most `max` bytes.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Closed);
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (&available[..=at], true),
            None => (available, false),
        };
        if !too_long && buf.len() + chunk.len() <= max {
            buf.extend_from_slice(chunk);
        } else {
            too_long = true;
            buf.clear();
        }
        let used = chunk.len();
        reader.consume(used);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Whole });
        }
    }
}

/// Writes one reply.
async fn reply<W: AsyncWrite + Unpin>(writer: &mut W, text: &str) -> std::io::Result<()> {
    writer.write_all(text.as_bytes()).await?;
    writer.write_all(b"\r\n").await?;
    writer.flush().await
}

/// How a session ends early.
enum Closing {
    /// Answer this and close.
    With(&'static str),
    /// The peer went away or the socket failed.
    Gone,
}

impl From<std::io::Error> for Closing {
    fn from(_: std::io::Error) -> Self {
        Closing::Gone
    }
}

async fn session(app: &Kirjuri, stream: TcpStream, stop: watch::Receiver<bool>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if let Err(Closing::With(last)) = converse(app, &mut reader, &mut write, stop).await {
        let _ = reply(&mut write, last).await;
    }
    let _ = write.shutdown().await;
}

async fn converse<R: AsyncBufRead + Unpin, W: AsyncWrite + Unpin>(
    app: &Kirjuri,
    reader: &mut R,
    writer: &mut W,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Closing> {
    let config = &app.config.email;
    let command_timeout = Duration::from_secs(config.lmtp_command_timeout_seconds);
    let max_size = config.max_message_bytes;
    reply(writer, &format!("220 {NAME} LMTP ready")).await?;
    let mut greeted = false;
    let mut envelope = Envelope::default();
    let mut errors = 0u32;
    let mut line = Vec::with_capacity(256);
    loop {
        if errors >= MAX_ERRORS {
            return Err(Closing::With("421 4.7.0 too many errors, closing"));
        }
        let read = tokio::select! {
            read = tokio::time::timeout(command_timeout, read_line(reader, &mut line, MAX_COMMAND_BYTES)) => read,
            _ = stop.changed() => return Err(Closing::With("421 4.3.2 shutting down")),
        };
        match read {
            Err(_) => return Err(Closing::With("421 4.4.2 timeout, closing")),
            Ok(Err(_)) | Ok(Ok(Line::Closed)) => return Err(Closing::Gone),
            Ok(Ok(Line::TooLong)) => return Err(Closing::With("500 5.5.2 line too long")),
            Ok(Ok(Line::Whole)) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, rest) = match text.split_once(' ') {
            Some((verb, rest)) => (verb.to_ascii_uppercase(), rest.trim()),
            None => (text.to_ascii_uppercase(), ""),
        };
        let answer: String = match verb.as_str() {
            "LHLO" if rest.is_empty() => "501 5.5.4 LHLO needs a domain".into(),
            "LHLO" => {
                greeted = true;
                envelope = Envelope::default();
                format!(
                    "250-{NAME}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SIZE {max_size}"
                )
            }
            "HELO" | "EHLO" => "500 5.5.1 this is LMTP: say LHLO".into(),
            "MAIL" if !greeted => "503 5.5.1 LHLO first".into(),
            "MAIL" if envelope.sender.is_some() => "503 5.5.1 nested MAIL".into(),
            "MAIL" => match parse_mail(rest) {
                Err(problem) => problem.into(),
                Ok((_, Some(size))) if size > max_size as u64 => {
                    "552 5.3.4 message size exceeds fixed maximum message size".into()
                }
                Ok((sender, _)) => {
                    envelope.sender = Some(sender);
                    "250 2.1.0 sender ok".into()
                }
            },
            "RCPT" if envelope.sender.is_none() => "503 5.5.1 MAIL first".into(),
            "RCPT" => match path_argument(rest, "TO:") {
                None | Some(None) => "501 5.5.4 syntax: RCPT TO:<address>".into(),
                Some(Some(_)) if envelope.recipients >= config.lmtp_max_recipients => {
                    "452 4.5.3 too many recipients".into()
                }
                Some(Some(_)) => {
                    envelope.recipients += 1;
                    "250 2.1.5 recipient ok".into()
                }
            },
            "DATA" if envelope.recipients == 0 => "503 5.5.1 RCPT first".into(),
            "DATA" if !rest.is_empty() => "501 5.5.4 DATA takes no argument".into(),
            "DATA" => {
                reply(writer, "354 send the message, end with <CRLF>.<CRLF>").await?;
                let data_timeout = Duration::from_secs(config.lmtp_data_timeout_seconds);
                let received = tokio::time::timeout(
                    data_timeout,
                    read_data(reader, max_size, command_timeout),
                )
                .await
                .map_err(|_| Closing::With("421 4.4.2 timeout, closing"))??;
                let answer = match received {
                    Data::TooBig => "552 5.3.4 message size exceeds fixed maximum message size",
                    Data::LineTooLong => "554 5.6.0 a line of the message is too long",
                    Data::Message(message) => {
                        let sender = envelope.sender.clone().flatten();
                        deliver(app, sender.as_deref(), &message).await
                    }
                };
                for _ in 0..envelope.recipients {
                    writer.write_all(answer.as_bytes()).await?;
                    writer.write_all(b"\r\n").await?;
                }
                writer.flush().await?;
                envelope = Envelope::default();
                errors = 0;
                continue;
            }
            "RSET" => {
                envelope = Envelope::default();
                "250 2.0.0 ok".into()
            }
            "NOOP" => "250 2.0.0 ok".into(),
            "QUIT" => {
                reply(writer, "221 2.0.0 bye").await?;
                return Ok(());
            }
            "VRFY" => "252 2.5.0 cannot verify".into(),
            _ => "500 5.5.2 command not recognised".into(),
        };
        if answer.starts_with('5') {
            errors += 1;
        } else {
            errors = 0;
        }
        reply(writer, &answer).await?;
    }
}

/// What DATA delivered.
enum Data {
    /// The message, dot-unstuffed.
    Message(Vec<u8>),
    /// It passed the size limit; the rest was read and dropped.
    TooBig,
    /// A line passed the line bound; the rest was read and dropped.
    LineTooLong,
}

/// Reads DATA up to the lone `.` line. Each line must arrive within
/// `line_timeout`; the caller bounds the whole.
async fn read_data<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max_size: usize,
    line_timeout: Duration,
) -> Result<Data, Closing> {
    let mut message = Vec::new();
    let mut line = Vec::new();
    let mut refused: Option<Data> = None;
    loop {
        let read = tokio::time::timeout(
            line_timeout,
            read_line(reader, &mut line, MAX_LINE_BYTES + 2),
        )
        .await
        .map_err(|_| Closing::With("421 4.4.2 timeout, closing"))??;
        match read {
            Line::Closed => return Err(Closing::Gone),
            Line::TooLong => {
                refused.get_or_insert(Data::LineTooLong);
                message = Vec::new();
                continue;
            }
            Line::Whole => {}
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(refused.unwrap_or(Data::Message(message)));
        }
        if refused.is_some() {
            continue;
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if message.len() + unstuffed.len() > max_size {
            refused = Some(Data::TooBig);
            message = Vec::new();
            continue;
        }
        message.extend_from_slice(unstuffed);
    }
}

/// Hands a message to the application and words its answer.
async fn deliver(app: &Kirjuri, sender: Option<&str>, message: &[u8]) -> &'static str {
    match app.receive_mail(sender, message).await {
        Ok(Created::New) => "250 2.0.0 stored",
        Ok(Created::Existing) => "250 2.0.0 already stored",
        // Delivered before and since destroyed at its deadline: done.
        Err(Error::Gone { .. }) => "250 2.0.0 already handled",
        Err(Error::Unprocessable { .. }) => "554 5.6.0 message refused: not a valid message",
        Err(Error::TooLarge { .. }) => "552 5.3.4 message size exceeds fixed maximum message size",
        Err(e) => {
            tracing::error!(error = %e, "lmtp delivery failed");
            "451 4.3.0 temporary failure, try again later"
        }
    }
}

/// `FROM:<address> [SIZE=n] [BODY=…]`: the sender (`None` for `<>`) and
/// the declared size.
fn parse_mail(rest: &str) -> Result<(Option<String>, Option<u64>), &'static str> {
    let syntax = "501 5.5.4 syntax: MAIL FROM:<address> [SIZE=n]";
    let (path, params) = match rest.find('>') {
        Some(end) => (&rest[..=end], rest[end + 1..].trim()),
        None => return Err(syntax),
    };
    let sender = path_argument(path, "FROM:").ok_or(syntax)?;
    let mut size = None;
    for param in params.split_ascii_whitespace() {
        match param.split_once('=') {
            Some((key, value)) if key.eq_ignore_ascii_case("SIZE") => {
                size = Some(value.parse::<u64>().map_err(|_| syntax)?);
            }
            Some((key, _)) if key.eq_ignore_ascii_case("BODY") => {}
            _ => return Err("555 5.5.4 unsupported MAIL parameter"),
        }
    }
    Ok((sender, size))
}

/// `FROM:<a@b>` / `TO:<a@b>` (case-insensitive prefix, optional space):
/// `Some(None)` for `<>`, `None` for bad syntax.
fn path_argument(rest: &str, prefix: &str) -> Option<Option<String>> {
    let head = rest.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let path = rest[prefix.len()..].trim();
    let inner = path.strip_prefix('<')?.strip_suffix('>')?;
    if inner
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '<')
    {
        return None;
    }
    // A source route (`@a,@b:user@c`) is ignored, as RFC 5321 allows.
    let address = inner.rsplit(':').next().unwrap_or(inner);
    Some((!address.is_empty()).then(|| address.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_and_rcpt_paths_parse_as_rfc_5321_writes_them() {
        assert_eq!(
            parse_mail("FROM:<a@b.fi> SIZE=100 BODY=8BITMIME"),
            Ok((Some("a@b.fi".into()), Some(100)))
        );
        assert_eq!(parse_mail("from: <>"), Ok((None, None)));
        assert!(parse_mail("FROM:a@b.fi").is_err());
        assert!(parse_mail("FROM:<a@b.fi> SIZE=x").is_err());
        assert!(parse_mail("FROM:<a@b.fi> AUTH=x").is_err());
        assert_eq!(
            path_argument("TO:<@relay:u@c.fi>", "TO:"),
            Some(Some("u@c.fi".into()))
        );
        assert_eq!(path_argument("TO:<a b@c>", "TO:"), None);
        assert_eq!(path_argument("T", "TO:"), None);
    }

    #[tokio::test]
    async fn a_line_past_its_bound_is_dropped_and_reported() {
        let input = format!("{}\r\nshort\r\n", "x".repeat(5000));
        let mut reader = BufReader::with_capacity(64, input.as_bytes());
        let mut buf = Vec::new();
        assert!(matches!(
            read_line(&mut reader, &mut buf, 100).await.unwrap(),
            Line::TooLong
        ));
        assert!(matches!(
            read_line(&mut reader, &mut buf, 100).await.unwrap(),
            Line::Whole
        ));
        assert_eq!(buf, b"short\r\n");
        assert!(matches!(
            read_line(&mut reader, &mut buf, 100).await.unwrap(),
            Line::Closed
        ));
    }

    #[tokio::test]
    async fn data_is_dot_unstuffed_and_ends_at_the_lone_dot() {
        let input = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nNOOP\r\n".to_vec();
        let mut reader = BufReader::new(input.as_slice());
        let data = read_data(&mut reader, 1000, Duration::from_secs(1)).await;
        let Ok(Data::Message(message)) = data else {
            panic!("no message")
        };
        assert_eq!(message, b"Subject: x\r\n\r\n.leading dot\r\n");
        let too_big = read_data(
            &mut BufReader::new(&b"aaaa\r\nbbbb\r\n.\r\n"[..]),
            5,
            Duration::from_secs(1),
        )
        .await;
        assert!(matches!(too_big, Ok(Data::TooBig)));
    }
}
