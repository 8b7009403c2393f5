//! [`Tansu`], an independent Apache Kafka compatible broker, for the integration tests:
//! what works against librdkafka's mock cluster must work against a broker that
//! librdkafka did not write. `.ci/setup` installs it (`cargo install tansu`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Tansu broker on a free loopback port, with in-memory storage; killed on drop.
///
/// ```no_run
/// let tansu = fastkafka_test_support::Tansu::start();
/// let bootstrap = tansu.bootstrap(); // "127.0.0.1:PORT"
/// ```
pub struct Tansu {
    child: Child,
    port: u16,
}

impl Tansu {
    /// Starts Tansu and waits until it accepts connections. Panics with what to do when
    /// Tansu is not installed.
    pub fn start() -> Tansu {
        let binary = tansu_binary().unwrap_or_else(|| {
            panic!(
                "Tansu is not installed: run `bash .ci/setup` (it runs `cargo install tansu --features dynostore --locked`), or set TANSU=/path/to/tansu"
            )
        });
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut tansu = Tansu { child, port };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = tansu.child.try_wait() {
                panic!("Tansu exited before it listened on port {port}: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "Tansu did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        tansu
    }

    /// `bootstrap.servers` for this broker.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$TANSU`, else `tansu` on the PATH, else `~/.cargo/bin/tansu`.
fn tansu_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TANSU") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("tansu"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let home = PathBuf::from(std::env::var_os("HOME")?);
        Some(home.join(".cargo/bin/tansu")).filter(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}
