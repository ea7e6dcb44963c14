//! Hosts for a run: a network namespace per node (its own address on a bridge the run
//! creates), or loopback where namespaces are not permitted. Links go down, routes are
//! blackholed and `tc netem` shapes a node's link, all inside the node's namespace.

use std::process::Command;

/// Where one node runs.
#[derive(Debug, Clone)]
pub struct Host {
    /// Its IP address (every port of the node listens on it).
    pub ip: String,
    /// Its network namespace, if it has one.
    pub netns: Option<String>,
}

/// The hosts of a run; namespaces and the bridge are removed on drop.
pub struct Hosts {
    /// One per node, in order.
    pub hosts: Vec<Host>,
    bridge: Option<String>,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Hosts {
    /// `n` loopback hosts.
    pub fn loopback(n: usize) -> Hosts {
        Hosts {
            hosts: (0..n)
                .map(|_| Host {
                    ip: "127.0.0.1".into(),
                    netns: None,
                })
                .collect(),
            bridge: None,
        }
    }

    /// `n` namespaces `lp<pid>n<i>` on bridge `lp<pid>br` in a /24 of 10.0.0.0/8 picked
    /// from the process id (runs at the same time do not collide), the runner at .1.
    pub fn namespaces(n: usize) -> Result<Hosts, String> {
        let pid = std::process::id();
        let prefix = format!("lp{}", pid % 1_000_000);
        let net = format!("10.{}.{}", 100 + (pid / 250) % 150, pid % 250);
        let bridge = format!("{prefix}br");
        let mut hosts = Hosts {
            hosts: vec![],
            bridge: None,
        };
        run(&["ip", "link", "add", &bridge, "type", "bridge"])?;
        hosts.bridge = Some(bridge.clone());
        run(&["ip", "addr", "add", &format!("{net}.1/24"), "dev", &bridge])?;
        run(&["ip", "link", "set", &bridge, "up"])?;
        for i in 1..=n {
            let ns = format!("{prefix}n{i}");
            let outside = format!("{prefix}v{i}");
            let ip = format!("{net}.{}", i + 1);
            run(&["ip", "netns", "add", &ns])?;
            hosts.hosts.push(Host {
                ip: ip.clone(),
                netns: Some(ns.clone()),
            });
            run(&[
                "ip", "link", "add", &outside, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            run(&["ip", "link", "set", &outside, "master", &bridge])?;
            run(&["ip", "link", "set", &outside, "up"])?;
            hosts.inside(i - 1, &["ip", "link", "set", "lo", "up"])?;
            hosts.inside(
                i - 1,
                &["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
            )?;
            hosts.inside(i - 1, &["ip", "link", "set", "eth0", "up"])?;
        }
        Ok(hosts)
    }

    /// Whether the nodes are in namespaces.
    pub fn isolated(&self) -> bool {
        self.bridge.is_some()
    }

    fn inside(&self, i: usize, args: &[&str]) -> Result<(), String> {
        let ns = self.hosts[i]
            .netns
            .as_deref()
            .ok_or("this run has no network namespaces (loopback placement)")?;
        let mut all = vec!["ip", "netns", "exec", ns];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Node `i`'s link down (or up again).
    pub fn link(&self, i: usize, up: bool) -> Result<(), String> {
        self.inside(
            i,
            &["ip", "link", "set", "eth0", if up { "up" } else { "down" }],
        )
    }

    /// Node `i` stops reaching node `j` (both directions need a call): a blackhole route.
    pub fn cut(&self, i: usize, j: usize) -> Result<(), String> {
        let to = format!("{}/32", self.hosts[j].ip);
        self.inside(i, &["ip", "route", "add", "blackhole", &to])
    }

    /// Every route node `i` had blackholed, removed.
    pub fn heal(&self, i: usize) -> Result<(), String> {
        self.inside(i, &["ip", "route", "flush", "type", "blackhole"])
    }

    /// Delay, jitter and loss on node `i`'s link (`None`: removed).
    pub fn netem(&self, i: usize, shape: Option<(u32, u32, u32)>) -> Result<(), String> {
        match shape {
            Some((delay, jitter, loss)) => self.inside(
                i,
                &[
                    "tc",
                    "qdisc",
                    "add",
                    "dev",
                    "eth0",
                    "root",
                    "netem",
                    "delay",
                    &format!("{delay}ms"),
                    &format!("{jitter}ms"),
                    "loss",
                    &format!("{loss}%"),
                ],
            ),
            None => self.inside(i, &["tc", "qdisc", "del", "dev", "eth0", "root"]),
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for h in &self.hosts {
            if let Some(ns) = &h.netns {
                let _ = run(&["ip", "netns", "del", ns]);
            }
        }
        if let Some(b) = &self.bridge {
            let _ = run(&["ip", "link", "del", b]);
        }
    }
}

/// A small filesystem (tmpfs) mounted on a node's home, that can be made full.
pub struct SmallDisk {
    /// Where it is mounted.
    pub path: std::path::PathBuf,
    mounted: bool,
}

/// How large a node's small disk is when it is not full.
const DISK_BYTES: u64 = 1 << 30;

impl SmallDisk {
    /// Mounts a tmpfs on `path` (an empty directory).
    pub fn mount(path: &std::path::Path) -> Result<SmallDisk, String> {
        let p = path.to_string_lossy();
        run(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={DISK_BYTES}"),
            "tmpfs",
            &p,
        ])?;
        Ok(SmallDisk {
            path: path.to_path_buf(),
            mounted: true,
        })
    }

    /// Shrinks the filesystem to what it holds and fills the rest: every later write fails
    /// with ENOSPC.
    pub fn fill(&self) -> Result<(), String> {
        let used = du(&self.path)?;
        let p = self.path.to_string_lossy();
        let size = (used + (1 << 20)).div_ceil(4096) * 4096;
        run(&["mount", "-o", &format!("remount,size={size}"), "tmpfs", &p])?;
        let filler = self.path.join("FILLER");
        let mut f = std::fs::File::create(&filler).map_err(|e| format!("filler: {e}"))?;
        let block = vec![0u8; 64 * 1024];
        loop {
            use std::io::Write;
            if f.write_all(&block).is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Frees the space again.
    pub fn free(&self) -> Result<(), String> {
        let _ = std::fs::remove_file(self.path.join("FILLER"));
        let p = self.path.to_string_lossy();
        run(&[
            "mount",
            "-o",
            &format!("remount,size={DISK_BYTES}"),
            "tmpfs",
            &p,
        ])
    }

    /// Unmounts (the node must be stopped).
    pub fn unmount(&mut self) {
        if self.mounted {
            let _ = run(&["umount", "-l", &self.path.to_string_lossy()]);
            self.mounted = false;
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        self.unmount();
    }
}

/// Bytes used on the filesystem holding `path`.
fn du(path: &std::path::Path) -> Result<u64, String> {
    let out = Command::new("df")
        .args(["--output=used", "-B1"])
        .arg(path)
        .output()
        .map_err(|e| format!("df: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("df {}: no figure", path.display()))
}
