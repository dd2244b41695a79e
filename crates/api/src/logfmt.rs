//! The two log line formats, text (the default) and JSON (`LOG_FORMAT=json`), as
//! tracing-subscriber formatters.
//!
//! Written here because tracing-subscriber's own formatters cost a hot read a sixth of its
//! instructions for its one access line (callgrind: about 11,000 instructions a line, against
//! about 2,000 here): they format every field through `core::fmt` and an escaping adaptor, style
//! each part with empty ANSI styles and format the date from scratch. These write strings and
//! integers as they are, escape only where a value needs it, and format the date once a second.
//!
//! Text: `2026-11-25T14:43:52.123456Z  INFO span{k=v}: target: message k=v k="a b"`
//! JSON: `{"timestamp":…,"level":"INFO","target":…,"message":…,"k":v,"spans":[{"name":…,"k":v}]}`
//!
//! Values are escaped so that no field can forge a line or a field: control characters never
//! reach the log raw, and a text value that holds a space, a quote or an `=` is quoted.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Which of the two formats: the event formatter and the span-field formatter of one subscriber.
#[derive(Clone, Copy, Debug)]
pub struct LogFormat {
    json: bool,
}

impl LogFormat {
    pub fn new(json: bool) -> LogFormat {
        LogFormat { json }
    }
}

impl<S, N> FormatEvent<S, N> for LogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    /// The line is built in a buffer of the thread's and handed to `out` in one write: `out`
    /// dispatches each write dynamically, and a line is about thirty of them.
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut out: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        with_line_buffer(|line| match line {
            Some(line) => self
                .write_line(ctx, line, event)
                .and_then(|()| out.write_str(line)),
            // Formatting a value logged a line of its own: that one is written as it goes.
            None => self.write_line(ctx, &mut out, event),
        })
    }
}

/// `write` with this thread's line buffer, emptied, or with `None` if the buffer is in use (a
/// line being formatted logged one of its own).
fn with_line_buffer<T>(write: impl FnOnce(Option<&mut String>) -> T) -> T {
    thread_local! {
        static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    }
    LINE.with(|line| match line.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            let written = write(Some(&mut line));
            if line.capacity() > MAX_KEPT_LINE {
                *line = String::new();
            }
            written
        }
        Err(_) => write(None),
    })
}

/// The largest line buffer a thread keeps for the next line (a longer line's is let go; the
/// tracing-subscriber layer's own buffer, which the line is copied into, keeps its size).
const MAX_KEPT_LINE: usize = 16 * 1024;

/// The fields of a request's access line (`edge.rs`), all of them plain values: a method and a
/// route template from fixed sets, a request id of letters, digits and `-_.:`.
pub struct AccessLine<'a> {
    /// The module the line is logged from, as a tracing event's target.
    pub target: &'static str,
    pub message: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub latency_us: u64,
    pub request_id: &'a str,
}

impl LogFormat {
    /// The line a tracing event at INFO with these fields and no span writes, byte for byte (a
    /// test compares them), written without the event: with tracing's dispatch and field
    /// recording the line cost a request about 2,350 instructions, without them about 1,500
    /// (callgrind).
    pub fn write_access_line(&self, out: &mut impl Write, line: &AccessLine<'_>) -> fmt::Result {
        write_head(out, self.json, &Level::INFO, line.target)?;
        if self.json {
            line.record(&mut JsonFields::new(out, false))?;
            out.write_str("}\n")
        } else {
            out.write_str(line.target)?;
            out.write_str(":")?;
            line.record(&mut TextFields::new(out, false))?;
            out.write_char('\n')
        }
    }
}

impl AccessLine<'_> {
    /// Each field, in the order `edge.rs`'s `tracing::info!` names them.
    fn record(&self, fields: &mut impl FieldWriter) -> fmt::Result {
        fields.str_field("message", self.message)?;
        fields.str_field("method", self.method)?;
        fields.str_field("route", self.route)?;
        fields.integer_field("status", self.status)?;
        fields.integer_field("latency_us", self.latency_us)?;
        fields.str_field("request_id", self.request_id)
    }
}

/// A format's writer of named fields (what its `Visit` does with a tracing field).
trait FieldWriter {
    fn str_field(&mut self, name: &str, value: &str) -> fmt::Result;
    fn integer_field(&mut self, name: &str, value: impl itoa::Integer) -> fmt::Result;
}

/// Where access lines go without a tracing event: the subscriber's writer and format, set once by
/// `startup::init_logging`. Unset (in tests that set a subscriber of their own), access lines are
/// tracing events.
static ACCESS_LOG: std::sync::OnceLock<(crate::logbatch::BatchingWriter, LogFormat)> =
    std::sync::OnceLock::new();

/// Sends access lines straight to `writer` in `format` from now on.
pub fn install_access_log(writer: crate::logbatch::BatchingWriter, format: LogFormat) {
    let _ = ACCESS_LOG.set((writer, format));
}

/// Writes `line` to the installed writer; false if none is installed (or this thread is already
/// writing a line): the caller logs it as a tracing event instead. The caller has checked that
/// its target logs at INFO.
pub fn log_access_line(line: &AccessLine<'_>) -> bool {
    use std::io::Write as _;
    use tracing_subscriber::fmt::MakeWriter;
    let Some((writer, format)) = ACCESS_LOG.get() else {
        return false;
    };
    with_line_buffer(|buffer| {
        let Some(buffer) = buffer else {
            return false;
        };
        if format.write_access_line(buffer, line).is_ok() {
            // A line the writer cannot take is dropped and counted there, as any line.
            let _ = writer.make_writer().write_all(buffer.as_bytes());
        }
        true
    })
}

impl LogFormat {
    fn write_line<S, N>(
        &self,
        ctx: &FmtContext<'_, S, N>,
        out: &mut impl Write,
        event: &Event<'_>,
    ) -> fmt::Result
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        // A record of a library that logs through the `log` crate (rustls, reqwest) carries its
        // real target in `log.*` fields; they replace the event's own, and are not written.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        write_head(out, self.json, meta.level(), meta.target())?;
        if self.json {
            event.record(&mut JsonFields::new(out, false));
            // `,"spans":[` before the first span, `,` before the others; `]` if there was one.
            let mut separator = ",\"spans\":[";
            for span in ctx.event_scope().into_iter().flat_map(|s| s.from_root()) {
                write!(out, "{separator}{{\"name\":")?;
                separator = ",";
                json_string(out, span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        write!(out, ",{fields}")?;
                    }
                }
                out.write_char('}')?;
            }
            if separator == "," {
                out.write_char(']')?;
            }
            out.write_str("}\n")
        } else {
            for span in ctx.event_scope().into_iter().flat_map(|s| s.from_root()) {
                out.write_str(span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        write!(out, "{{{fields}}}")?;
                    }
                }
                out.write_str(": ")?;
            }
            out.write_str(meta.target())?;
            out.write_str(":")?;
            event.record(&mut TextFields::new(out, false));
            out.write_char('\n')
        }
    }
}

impl LogFormat {
    /// `fields` in this format, after what `out` already holds unless `first`.
    fn record_fields(&self, out: &mut Writer<'_>, fields: impl RecordFields, first: bool) {
        if self.json {
            fields.record(&mut JsonFields::new(out, first));
        } else {
            fields.record(&mut TextFields::new(out, first));
        }
    }
}

impl<'w> FormatFields<'w> for LogFormat {
    /// A span's fields: `k=v k=v` in text, `"k":v,"k":v` in JSON (the formatter wraps them).
    fn format_fields<R: RecordFields>(&self, mut out: Writer<'w>, fields: R) -> fmt::Result {
        self.record_fields(&mut out, fields, true);
        Ok(())
    }

    /// Fields recorded on a span after its creation, appended to those it has.
    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        self.record_fields(&mut current.as_writer(), fields, first);
        Ok(())
    }
}

/// A line's start: in JSON its timestamp, level and target; in text its timestamp and level (the
/// spans and the target follow).
fn write_head(out: &mut impl Write, json: bool, level: &Level, target: &str) -> fmt::Result {
    if json {
        out.write_str("{\"timestamp\":\"")?;
        write_timestamp(out)?;
        write!(out, "\",\"level\":\"{level}\",\"target\":")?;
        json_string(out, target)
    } else {
        write_timestamp(out)?;
        out.write_str(level_text(level))
    }
}

/// The `log.*` fields of a record from the `log` crate: already in the normalized metadata. Their
/// `name` fails, so that nothing of them is written.
fn is_log_metadata(field: &Field) -> bool {
    field.name().starts_with("log.")
}

fn level_text(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => " ERROR ",
        Level::WARN => "  WARN ",
        Level::INFO => "  INFO ",
        Level::DEBUG => " DEBUG ",
        Level::TRACE => " TRACE ",
    }
}

/// `2026-11-25T14:43:52.123456Z`: the date and time to the second are formatted once a second (per
/// thread), the microseconds each time, by hand (`core::fmt`'s padding cost a line about 500
/// instructions).
fn write_timestamp(out: &mut impl Write) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = now.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != seconds {
            text.clear();
            let time = i64::try_from(seconds)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_default();
            write!(text, "{}", time.format("%Y-%m-%dT%H:%M:%S"))?;
            *cached = seconds;
        }
        out.write_str(text)?;
        let mut fraction = *b".000000Z";
        let mut micros = now.subsec_micros();
        for digit in fraction[1..7].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        out.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
    })
}

/// An integer's digits, without `core::fmt`.
fn write_integer(out: &mut impl Write, value: impl itoa::Integer) -> fmt::Result {
    out.write_str(itoa::Buffer::new().format(value))
}

/// Whether `text` is printable ASCII through and through (no control character, no byte of a
/// multi-byte character): then no escaping can apply to it. (Every byte is looked at, without
/// stopping early: the compiler checks many at once.)
fn printable_ascii(text: &str) -> bool {
    text.bytes()
        .fold(true, |all, b| all & (0x20..0x7f).contains(&b))
}

/// Whether `text` needs nothing escaped inside a JSON string: printable ASCII without a quote or
/// a backslash (looked at in one pass).
fn json_plain(text: &str) -> bool {
    text.bytes().fold(true, |all, b| {
        all & (0x20..0x7f).contains(&b) & (b != b'"') & (b != b'\\')
    })
}

/// Whether a text value is one plain word, written as it is: printable ASCII without a space, a
/// quote or an `=` (so it cannot be taken for another field).
fn plain_word(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().fold(true, |all, b| {
            all & b.is_ascii_graphic() & (b != b'"') & (b != b'=')
        })
}

/// Text fields: ` k=v`, the message without its name. A value that is one plain word is written
/// as it is, any other quoted and escaped (Rust's `{:?}` of a string).
struct TextFields<'a, W> {
    out: &'a mut W,
    first: bool,
}

impl<'a, W: Write> TextFields<'a, W> {
    /// Unless `first`, every field, the first too, is preceded by a space (after the target).
    fn new(out: &'a mut W, first: bool) -> Self {
        TextFields { out, first }
    }

    fn name(&mut self, field: &Field) -> fmt::Result {
        if is_log_metadata(field) {
            return Err(fmt::Error);
        }
        self.field_name(field.name())
    }

    fn field_name(&mut self, name: &str) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.out.write_char(' ')?;
        }
        if name == "message" {
            return Ok(());
        }
        self.out.write_str(name)?;
        self.out.write_char('=')
    }
}

impl<W: Write> FieldWriter for TextFields<'_, W> {
    fn str_field(&mut self, name: &str, value: &str) -> fmt::Result {
        self.field_name(name)?;
        if name == "message" {
            Escaped(&mut *self.out).write_str(value)
        } else if plain_word(value) {
            self.out.write_str(value)
        } else {
            write!(self.out, "{value:?}")
        }
    }

    fn integer_field(&mut self, name: &str, value: impl itoa::Integer) -> fmt::Result {
        self.field_name(name)?;
        write_integer(self.out, value)
    }
}

impl<W: Write> Visit for TextFields<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !is_log_metadata(field) {
            let _ = self.str_field(field.name(), value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !is_log_metadata(field) {
            let _ = self.integer_field(field.name(), value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !is_log_metadata(field) {
            let _ = self.integer_field(field.name(), value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let _ = self.name(field).and_then(|()| write!(self.out, "{value}"));
    }

    /// The message as it is (control characters escaped); other values as strings.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = self
                .name(field)
                .and_then(|()| write!(Escaped(&mut *self.out), "{value:?}"));
        } else if !is_log_metadata(field) {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

/// Writes what it is given with control characters escaped (`\n`, `\u{1b}`…), so that no value
/// can start a line of its own or colour the terminal.
struct Escaped<'a, W>(&'a mut W);

impl<W: Write> Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if printable_ascii(text) {
            return self.0.write_str(text);
        }
        let mut rest = text;
        while let Some(at) = rest.find(char::is_control) {
            self.0.write_str(&rest[..at])?;
            let control = rest[at..].chars().next().unwrap_or_default();
            write!(self.0, "{}", control.escape_default())?;
            rest = &rest[at + control.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// JSON members: `,"k":v`, each value a JSON string, number or boolean.
struct JsonFields<'a, W> {
    out: &'a mut W,
    first: bool,
}

impl<'a, W: Write> JsonFields<'a, W> {
    /// Unless `first`, every member, the first too, is preceded by a comma (inside an object that
    /// already has members).
    fn new(out: &'a mut W, first: bool) -> Self {
        JsonFields { out, first }
    }

    fn name(&mut self, field: &Field) -> fmt::Result {
        if is_log_metadata(field) {
            return Err(fmt::Error);
        }
        self.field_name(field.name())
    }

    fn field_name(&mut self, name: &str) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.out.write_char(',')?;
        }
        json_string(self.out, name)?;
        self.out.write_char(':')
    }
}

impl<W: Write> FieldWriter for JsonFields<'_, W> {
    fn str_field(&mut self, name: &str, value: &str) -> fmt::Result {
        self.field_name(name)?;
        json_string(self.out, value)
    }

    fn integer_field(&mut self, name: &str, value: impl itoa::Integer) -> fmt::Result {
        self.field_name(name)?;
        write_integer(self.out, value)
    }
}

impl<W: Write> Visit for JsonFields<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !is_log_metadata(field) {
            let _ = self.str_field(field.name(), value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !is_log_metadata(field) {
            let _ = self.integer_field(field.name(), value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !is_log_metadata(field) {
            let _ = self.integer_field(field.name(), value);
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let _ = self.name(field).and_then(|()| match value.is_finite() {
            true => write!(self.out, "{value}"),
            false => self.out.write_str("null"),
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let _ = self.name(field).and_then(|()| write!(self.out, "{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = self.name(field).and_then(|()| {
            self.out.write_char('"')?;
            write!(JsonEscaped(&mut *self.out), "{value:?}")?;
            self.out.write_char('"')
        });
    }
}

fn json_string(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    JsonEscaped(out).write_str(text)?;
    out.write_char('"')
}

/// The inside of a JSON string: quotes, backslashes and control characters escaped, and so are the
/// Unicode line separators (U+2028, U+2029: line breaks to many readers) and the bidirectional
/// controls (which can reorder what a terminal shows).
fn json_special(c: char) -> bool {
    matches!(c, '"' | '\\' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || c.is_control()
}

struct JsonEscaped<'a, W>(&'a mut W);

impl<W: Write> Write for JsonEscaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if json_plain(text) {
            return self.0.write_str(text);
        }
        let mut rest = text;
        while let Some(at) = rest.find(json_special) {
            self.0.write_str(&rest[..at])?;
            let special = rest[at..].chars().next().unwrap_or_default();
            match special {
                '"' => self.0.write_str("\\\"")?,
                '\\' => self.0.write_str("\\\\")?,
                '\n' => self.0.write_str("\\n")?,
                other => write!(self.0, "\\u{:04x}", u32::from(other))?,
            }
            rest = &rest[at + special.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// A subscriber in these formats that keeps its lines, for tests of what is logged.
#[cfg(test)]
pub(crate) mod capture {
    use std::sync::{Arc, Mutex, MutexGuard};

    use tracing::{Level, Subscriber};
    use tracing_subscriber::fmt::MakeWriter;

    use super::LogFormat;

    /// What the subscriber wrote.
    #[derive(Clone, Default)]
    pub struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub fn lines(&self) -> Vec<String> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines().map(str::to_owned).collect()
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// Held by each test that captures lines. tracing keeps global state across subscribers (the
    /// highest level any of them enables, each callsite's interest), which a subscriber set or
    /// dropped on another thread at the same moment can leave stale: a line would go missing.
    pub fn exclusive() -> MutexGuard<'static, ()> {
        static CAPTURING: Mutex<()> = Mutex::new(());
        CAPTURING.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A subscriber at `level` in the text or JSON format, and what it writes.
    pub fn subscriber(json: bool, level: Level) -> (impl Subscriber + Send + Sync, Captured) {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .fmt_fields(LogFormat::new(json))
            .event_format(LogFormat::new(json))
            .with_writer(captured.clone())
            .finish();
        (subscriber, captured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines `emit` logs, at debug, in the format.
    fn lines(json: bool, emit: impl FnOnce()) -> Vec<String> {
        let _exclusive = capture::exclusive();
        let (subscriber, captured) = capture::subscriber(json, Level::DEBUG);
        tracing::subscriber::with_default(subscriber, || {
            // A callsite another thread registered while this subscriber was set may have
            // cached "never": ask every callsite again.
            tracing::callsite::rebuild_interest_cache();
            emit()
        });
        captured.lines()
    }

    /// `line` without its timestamp, which the two ways of writing it take at different times.
    fn without_timestamp(line: &str) -> String {
        let at = line.find('T').unwrap();
        let end = at + line[at..].find('Z').unwrap();
        format!("{}{}", &line[..at - 10], &line[end + 1..])
    }

    /// An access line written straight to the writer is the line its tracing event writes.
    #[test]
    fn a_direct_access_line_is_the_tracing_events_line() {
        let line = AccessLine {
            target: "formula_api::edge",
            message: "finished processing request",
            method: "GET",
            route: "/api/expenses/fixed-costs",
            status: 200,
            latency_us: 1234,
            request_id: "0f1e-Id:1.2_x",
        };
        for json in [false, true] {
            let evented = lines(json, || {
                tracing::info!(
                    target: "formula_api::edge",
                    message = line.message,
                    method = line.method,
                    route = line.route,
                    status = line.status,
                    latency_us = line.latency_us,
                    request_id = line.request_id,
                )
            });
            let mut direct = String::new();
            LogFormat::new(json)
                .write_access_line(&mut direct, &line)
                .unwrap();
            assert_eq!(evented.len(), 1, "{evented:?}");
            assert!(
                direct.ends_with('\n') && direct.matches('\n').count() == 1,
                "{direct:?}"
            );
            assert_eq!(
                without_timestamp(direct.trim_end()),
                without_timestamp(&evented[0]),
                "json: {json}"
            );
        }
    }

    fn access_line() {
        let span = tracing::debug_span!("request", route = "/r", request_id = "id-1");
        let _entered = span.enter();
        tracing::info!(
            method = "GET",
            status = 200u64,
            error = %"line one\nforged=1 \"quoted\"",
            note = "two words",
            ok = true,
            "finished processing request"
        );
    }

    #[test]
    fn text_lines_keep_plain_values_and_escape_the_rest() {
        let lines = lines(false, access_line);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        assert_eq!(
            rest,
            " INFO request{route=/r request_id=id-1}: formula_api::logfmt::tests: finished \
             processing request method=GET status=200 \
             error=\"line one\\nforged=1 \\\"quoted\\\"\" note=\"two words\" ok=true"
        );
    }

    #[test]
    fn json_lines_are_one_object_each() {
        let lines = lines(true, access_line);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(line["timestamp"].as_str().unwrap()).is_ok());
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], "formula_api::logfmt::tests");
        assert_eq!(line["message"], "finished processing request");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["status"], 200);
        assert_eq!(line["error"], "line one\nforged=1 \"quoted\"");
        assert_eq!(line["ok"], true);
        assert_eq!(
            line["spans"],
            serde_json::json!([{"name": "request", "route": "/r", "request_id": "id-1"}])
        );
    }

    #[test]
    fn values_cannot_forge_lines_or_colours() {
        let hostile = "a\nb\u{1b}[31m\u{2028}c\u{2029}d\u{202e}e";
        let emit = || tracing::warn!(value = hostile, "message\nforged line");
        for json in [false, true] {
            let lines = lines(json, emit);
            assert_eq!(lines.len(), 1, "{lines:?}");
            for raw in ['\u{1b}', '\u{2028}', '\u{2029}', '\u{202e}'] {
                assert!(!lines[0].contains(raw), "{raw:?} in {lines:?}");
            }
            if json {
                let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
                assert_eq!(line["value"], hostile, "escaped, not changed");
            }
        }
    }

    /// rustls and reqwest log through the `log` crate: their records keep their own target and
    /// level, without the `log.*` fields that carried them.
    #[test]
    fn records_of_the_log_crate_keep_their_target() {
        let emit = || {
            let record = log::Record::builder()
                .target("reqwest::connect")
                .level(log::Level::Debug)
                .args(format_args!("starting new connection"))
                .build();
            tracing_log::format_trace(&record).unwrap();
        };
        let text = lines(false, emit);
        assert!(
            text[0].ends_with(" DEBUG reqwest::connect: starting new connection"),
            "{text:?}"
        );
        let json: serde_json::Value = serde_json::from_str(&lines(true, emit)[0]).unwrap();
        assert_eq!(json["target"], "reqwest::connect");
        assert_eq!(json["level"], "DEBUG");
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["timestamp", "level", "target", "message"]);
    }
}
