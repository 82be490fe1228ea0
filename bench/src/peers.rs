//! Finding, and where asked preparing, every server the bench runs: ours and the floor (built
//! by cargo), Python's `websockets` (a venv), Node.js `ws` (`npm ci` in `bench/node`), Go
//! gorilla/websocket (built offline from Debian's packages), websocketd (Debian) and websocat
//! (`cargo install` into the target directory). A peer that is not there is skipped, and the
//! header says why and how to get it.

use crate::binaries::Binaries;
use crate::plan::Plan;
use crate::processes::run_to_end;
use crate::python;
use crate::subjects::Subject;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long one preparation step (`npm ci`, `go build`) may take.
const PREPARE_LIMIT: Duration = Duration::from_secs(300);

/// How long `cargo install websocat` may take: it compiles a few hundred crates.
const CARGO_INSTALL_LIMIT: Duration = Duration::from_secs(1800);

/// Where Debian's `golang-github-gorilla-websocket-dev` puts the library, as a GOPATH.
const DEBIAN_GOPATH: &str = "/usr/share/gocode";

/// How to start one server.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The program.
    pub program: PathBuf,
    /// Arguments that come before the mode's own (a script's path).
    pub args: Vec<OsString>,
    /// The folder to run it in, if it matters (Node finds `ws` from there).
    pub dir: Option<PathBuf>,
    /// What it is, with versions, for the header.
    pub version: String,
}

impl Launcher {
    fn new(program: impl Into<PathBuf>, version: String) -> Launcher {
        Launcher {
            program: program.into(),
            args: Vec::new(),
            dir: None,
            version,
        }
    }
}

/// Every subject, ready or absent.
pub struct Peers {
    /// The workspace root, where the scripts are.
    pub workspace: PathBuf,
    /// How to start each subject, or why it is absent and how to get it.
    launchers: BTreeMap<Subject, Result<Launcher, String>>,
}

impl Peers {
    /// How to start `subject`, or why it is absent.
    pub fn launcher(&self, subject: Subject) -> Result<&Launcher, String> {
        match self.launchers.get(&subject) {
            Some(Ok(launcher)) => Ok(launcher),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!("{} is not set up", subject.name())),
        }
    }

    /// One line per subject for the header: its version, or why it is absent.
    pub fn describe(&self) -> Vec<String> {
        Subject::ALL
            .iter()
            .map(|&subject| match self.launcher(subject) {
                Ok(launcher) => format!("{}: {}", subject.name(), launcher.version),
                Err(why) => format!("{}: not measured ({why})", subject.name()),
            })
            .collect()
    }
}

/// Finds every subject; in a full run, or with `--peers`, prepares the peers that need it.
pub fn find(binaries: &Binaries, plan: &Plan, no_baseline: bool) -> Peers {
    let mut launchers = BTreeMap::new();
    launchers.insert(
        Subject::Ours,
        Ok(Launcher::new(
            &binaries.server,
            if binaries.server_given {
                format!("producer-server, {}", binaries.server.display())
            } else {
                "producer-server, release build".into()
            },
        )),
    );
    launchers.insert(
        Subject::Floor,
        Ok(Launcher::new(
            &binaries.floor,
            "bench/src/bin/floor.rs: blocking write(2) of each frame to every socket, from one thread"
                .into(),
        )),
    );
    let python = if no_baseline {
        Err("--no-baseline".to_string())
    } else {
        // The full bench makes its own venv; --quick (CI) uses one if there is one.
        python::find(&binaries.workspace, &binaries.target, !plan.quick)
    };
    launchers.insert(
        Subject::Python,
        python.map(|python| {
            let version = harness::python::describe(&python);
            let mut launcher = Launcher::new(python, version);
            launcher.args.push("-u".into());
            launcher
        }),
    );
    let peers_dir = binaries.target.join("bench-peers");
    let _ = std::fs::create_dir_all(&peers_dir);
    let wanted = |what: &str| -> Result<(), String> {
        if plan.peers || !plan.quick {
            Ok(())
        } else {
            Err(format!("--quick measures {what} only with --peers"))
        }
    };
    launchers.insert(
        Subject::Node,
        wanted("Node").and_then(|()| node(&binaries.workspace.join("bench/node"))),
    );
    launchers.insert(
        Subject::Go,
        wanted("Go").and_then(|()| go(&binaries.workspace.join("bench/go"), &peers_dir)),
    );
    launchers.insert(
        Subject::Websocketd,
        wanted("websocketd").and_then(|()| websocketd()),
    );
    launchers.insert(
        Subject::Websocat,
        wanted("websocat").and_then(|()| websocat(&peers_dir, plan.peers)),
    );
    Peers {
        workspace: binaries.workspace.clone(),
        launchers,
    }
}

/// The first line `program args` prints on stdout, if it runs.
fn version_of(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|line| line.trim().to_string())
}

/// Node.js with `ws` from `bench/node`'s lock file, installed with `npm ci` when missing.
fn node(project: &Path) -> Result<Launcher, String> {
    let node = version_of("node", &["--version"])
        .ok_or("no `node` on PATH (apt-get install nodejs npm)")?;
    let ws_manifest = project.join("node_modules/ws/package.json");
    if !ws_manifest.is_file() {
        eprintln!("bench: npm ci in {}", project.display());
        run_to_end(
            PREPARE_LIMIT,
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(project),
        )
        .map_err(|e| format!("npm ci in bench/node: {e}"))?;
    }
    let manifest = std::fs::read_to_string(&ws_manifest)
        .map_err(|e| format!("{}: {e}", ws_manifest.display()))?;
    let ws = manifest
        .split("\"version\"")
        .nth(1)
        .and_then(|rest| rest.split('"').nth(1))
        .unwrap_or("?");
    let mut launcher = Launcher::new("node", format!("Node.js {node}, ws {ws}"));
    launcher.args.push("server.js".into());
    launcher.dir = Some(project.to_path_buf());
    Ok(launcher)
}

/// Go with gorilla/websocket, built from `bench/go/server.go` with Debian's packages, offline:
/// GOPATH mode on Debian's source tree, no module proxy, no toolchain download.
fn go(source: &Path, peers_dir: &Path) -> Result<Launcher, String> {
    let go = version_of("go", &["version"])
        .ok_or("no `go` on PATH (apt-get install golang-go golang-github-gorilla-websocket-dev)")?;
    let gopath = std::env::var("PRODCON_GOPATH").unwrap_or_else(|_| DEBIAN_GOPATH.into());
    let gorilla = Path::new(&gopath).join("src/github.com/gorilla/websocket");
    if !gorilla.is_dir() {
        return Err(format!(
            "no gorilla/websocket in {gopath} (apt-get install golang-github-gorilla-websocket-dev, or set PRODCON_GOPATH)"
        ));
    }
    let binary = peers_dir.join("go-gorilla-server");
    run_to_end(
        PREPARE_LIMIT,
        Command::new("go")
            .args(["build", "-o"])
            .arg(&binary)
            .arg("server.go")
            .current_dir(source)
            .env("GO111MODULE", "off")
            .env("GOPATH", &gopath)
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local")
            .env("GOCACHE", peers_dir.join("go-cache")),
    )
    .map_err(|e| format!("go build of bench/go/server.go: {e}"))?;
    let gorilla_version = version_of(
        "dpkg-query",
        &[
            "-W",
            "-f",
            "${Version}",
            "golang-github-gorilla-websocket-dev",
        ],
    )
    .unwrap_or_else(|| format!("from {gopath}"));
    Ok(Launcher::new(
        binary,
        format!("{go}, gorilla/websocket {gorilla_version}"),
    ))
}

/// websocketd, from Debian's package.
fn websocketd() -> Result<Launcher, String> {
    let version = version_of("websocketd", &["--version"])
        .ok_or("no `websocketd` on PATH (apt-get install websocketd)")?;
    Ok(Launcher::new("websocketd", version))
}

/// websocat: the one `cargo install` put in the target directory, or one on PATH; installed
/// there when `install` (`--peers`) is set.
fn websocat(peers_dir: &Path, install: bool) -> Result<Launcher, String> {
    let root = peers_dir.join("websocat");
    let local = root.join("bin/websocat");
    for program in [local.clone(), PathBuf::from("websocat")] {
        if let Some(version) = version_of(&program, &["--version"]) {
            return Ok(Launcher::new(program, version));
        }
    }
    if !install {
        return Err(format!(
            "no websocat in {} or on PATH; --peers installs it with cargo",
            local.display()
        ));
    }
    eprintln!(
        "bench: cargo install websocat into {} (several minutes)",
        root.display()
    );
    run_to_end(
        CARGO_INSTALL_LIMIT,
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["install", "--locked", "--quiet", "websocat", "--root"])
            .arg(&root),
    )?;
    let version =
        version_of(&local, &["--version"]).ok_or("websocat does not run after cargo install")?;
    Ok(Launcher::new(local, version))
}
