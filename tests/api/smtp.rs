//! A real SMTP server on a loopback port for the email tests: Debian's
//! `python3-aiosmtpd`, started by the test. Each message it takes is parsed by
//! Python's `email` package and written to a directory as JSON (envelope,
//! headers, and the decoded text and HTML parts). It can be stopped and started
//! again on the same port, to play an outage.
//!
//! Email tests run when aiosmtpd is installed; in CI (`CI=true`) a missing
//! aiosmtpd fails them instead of skipping. `.ci/run` installs it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

const SERVER: &str = r#"
import email, email.policy, json, os, sys, time
from aiosmtpd.controller import Controller

out_dir, port = sys.argv[1], int(sys.argv[2])

class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = msg.get_body(preferencelist=('plain',))
        html = msg.get_body(preferencelist=('html',))
        record = {
            'mail_from': envelope.mail_from,
            'rcpt_tos': envelope.rcpt_tos,
            'from': str(msg['From']),
            'to': str(msg['To']),
            'subject': str(msg['Subject']),
            'message_id': str(msg['Message-ID']),
            'auto_submitted': str(msg.get('Auto-Submitted', '')),
            'content_type': msg.get_content_type(),
            'text': text.get_content() if text is not None else None,
            'html': html.get_content() if html is not None else None,
        }
        name = os.path.join(out_dir, '%020d.json' % time.time_ns())
        with open(name + '.tmp', 'w') as f:
            json.dump(record, f)
        os.rename(name + '.tmp', name)
        return '250 OK queued as test'

controller = Controller(Handler(), hostname='127.0.0.1', port=port)
controller.start()
print('ready', flush=True)
try:
    sys.stdin.read()
finally:
    controller.stop()
"#;

/// One message the server took.
#[derive(Debug, Clone, Deserialize)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub auto_submitted: String,
    pub content_type: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

impl Mail {
    pub fn text(&self) -> &str {
        self.text.as_deref().expect("a text/plain part")
    }

    pub fn html(&self) -> &str {
        self.html.as_deref().expect("a text/html part")
    }
}

/// A Python with aiosmtpd, or `None` outside CI when there is none.
fn python() -> Option<String> {
    let candidates = [
        std::env::var("PAYBYLINK_TEST_PYTHON").ok(),
        // Debian's package installs for the system Python, which a pyenv or
        // virtualenv python3 earlier on PATH may not be.
        Some("/usr/bin/python3".to_string()),
        Some("python3".to_string()),
    ];
    let found = candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but no python3 with aiosmtpd was found: email tests must not be skipped \
             in CI (apt-get install python3-aiosmtpd, as .ci/run does)"
        );
    }
    if found.is_none() {
        eprintln!("skipped: no python3 with aiosmtpd (apt-get install python3-aiosmtpd)");
    }
    found
}

pub struct SmtpServer {
    pub port: u16,
    python: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl SmtpServer {
    /// A server on a free port, not started yet (as if it were down); `None`
    /// outside CI when aiosmtpd is missing.
    pub fn reserved() -> Option<SmtpServer> {
        let python = python()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        Some(SmtpServer {
            port,
            python,
            dir: tempfile::tempdir().expect("mail dir"),
            child: None,
        })
    }

    /// A running server; `None` outside CI when aiosmtpd is missing.
    pub fn start() -> Option<SmtpServer> {
        let mut s = SmtpServer::reserved()?;
        s.up();
        Some(s)
    }

    /// The value of `PAYBYLINK_SMTP_URL` for this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port and waits until it answers.
    pub fn up(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new(&self.python)
            .args(["-c", SERVER])
            .arg(self.dir.path())
            .arg(self.port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        self.child = Some(child);
    }

    /// Stops the server: its port refuses connections until [`SmtpServer::up`].
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message taken so far, in the order they arrived.
    pub fn messages(&self) -> Vec<Mail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("mail dir")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
            .collect()
    }

    /// Waits until at least `n` messages have arrived; panics after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let started = Instant::now();
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                started.elapsed() < within,
                "{} of {n} emails arrived within {within:?}: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.down();
    }
}
