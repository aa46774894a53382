//! Throwaway PostgreSQL servers of a test's own (a standby, a Citus cluster): `initdb`
//! as the `postgres` user into a temporary directory, each on a free port, stopped and
//! removed when dropped, so that the machine's own server is never touched.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::free_port;

/// PostgreSQL's server programs, of the newest major version installed.
fn pg_bin(program: &str) -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let version = std::fs::read_dir(root)
        .expect(
            "PostgreSQL's server programs in /usr/lib/postgresql (scripts/test.sh installs them)",
        )
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .max()
        .expect("a PostgreSQL version in /usr/lib/postgresql");
    version.join("bin").join(program)
}

/// Runs a PostgreSQL program as the `postgres` user (initdb refuses root).
fn as_postgres(program: &str, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(pg_bin(program))
        .args(args)
        .output()
        .expect("runuser");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Servers in one temporary directory, each in a folder of its name; every server
/// started is stopped on drop, and the directory removed.
pub struct ScratchServers {
    dir: tempfile::TempDir,
    started: Vec<String>,
}

impl ScratchServers {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let postgres = Command::new("id")
            .args(["-u", "postgres"])
            .output()
            .expect("id");
        let uid: u32 = String::from_utf8_lossy(&postgres.stdout)
            .trim()
            .parse()
            .expect("the postgres user");
        chown(dir.path(), Some(uid), None).expect("give the directory to postgres");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("a private directory");
        Self {
            dir,
            started: Vec::new(),
        }
    }

    /// A new server `name` (`initdb`, trust auth, superuser `postgres`) with `settings`
    /// added to its configuration, started; its port.
    pub fn init(&mut self, name: &str, settings: &str) -> u16 {
        let data = self.data(name);
        as_postgres("initdb", &["-D", &data, "-A", "trust", "-U", "postgres"]);
        self.configure_and_start(name, settings)
    }

    /// A streaming standby `name` of the server on `primary` (`pg_basebackup -R`),
    /// started; its port.
    pub fn standby_of(&mut self, name: &str, primary: u16) -> u16 {
        let data = self.data(name);
        let primary = primary.to_string();
        as_postgres(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary,
                "-U",
                "postgres",
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
            ],
        );
        self.configure_and_start(name, "")
    }

    /// The URL of `database` on the server at `port`, as its superuser.
    pub fn url(port: u16, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{database}")
    }

    fn data(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn configure_and_start(&mut self, name: &str, settings: &str) -> u16 {
        let port = free_port();
        let data = self.data(name);
        let conf = Path::new(&data).join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        // Appended settings win over those before them (a standby's copy of its
        // primary's among them). Durability is not what these servers are for.
        text.push_str(&format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n{settings}\n",
            self.dir.path().display()
        ));
        std::fs::write(&conf, text).expect("write postgresql.conf");
        let log = format!("{data}.log");
        as_postgres("pg_ctl", &["-D", &data, "-l", &log, "-w", "start"]);
        self.started.push(name.to_string());
        port
    }
}

impl Drop for ScratchServers {
    fn drop(&mut self) {
        for name in self.started.iter().rev() {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(pg_bin("pg_ctl"))
                .args(["-D", &self.data(name), "-m", "immediate", "stop"])
                .output();
        }
    }
}
