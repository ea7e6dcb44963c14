//! The manifest of a perturbation run: the network, the load, and what happens to which
//! node when. Written in TOML (see `tests/perturb/*.toml`), or generated for a soak.

use serde::{Deserialize, Serialize};

/// How the nodes are placed on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Network namespaces where permitted, loopback otherwise.
    #[default]
    Auto,
    /// Each node in its own network namespace with its own address, linked to a bridge:
    /// separate hosts as far as the network is concerned.
    Namespaces,
    /// Every node on 127.0.0.1 with its own ports (network perturbations are skipped).
    Loopback,
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// A name for the report.
    pub name: String,
    /// How many validators (organisations `val-1` ...).
    pub validators: usize,
    /// How long the run lasts, in seconds (perturbations inside it; the checks follow).
    pub duration_secs: u64,
    /// Transactions offered per second, spread over one writer per validator.
    #[serde(default = "default_load")]
    pub load_tps: u32,
    /// Where the nodes run.
    #[serde(default)]
    pub placement: Placement,
    /// Validators whose keys live in a SoftHSM token the run creates (the others use the
    /// software key store).
    #[serde(default)]
    pub hsm: Vec<usize>,
    /// The perturbations, in any order.
    #[serde(default, rename = "perturbation")]
    pub perturbations: Vec<Perturbation>,
}

fn default_load() -> u32 {
    20
}

/// One perturbation: `kind` applied to `nodes` (validator numbers from 1) at `at_secs`,
/// undone `for_secs` later.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Perturbation {
    /// Seconds from the start of the run.
    pub at_secs: u64,
    /// How long it lasts before it is undone (the node restarted, resumed, reconnected).
    pub for_secs: u64,
    /// What is done.
    #[serde(flatten)]
    pub kind: Kind,
}

/// What a perturbation does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Kind {
    /// SIGKILL, then a start after the window.
    Kill {
        /// The validators.
        nodes: Vec<usize>,
    },
    /// SIGSTOP, then SIGCONT.
    Pause {
        /// The validators.
        nodes: Vec<usize>,
    },
    /// SIGTERM, then a start after the window.
    Restart {
        /// The validators.
        nodes: Vec<usize>,
    },
    /// The node's network link down (it reaches no one, no one reaches it).
    Disconnect {
        /// The validators.
        nodes: Vec<usize>,
    },
    /// Groups that cannot reach each other (validators not named form one more group).
    Partition {
        /// The groups.
        groups: Vec<Vec<usize>>,
    },
    /// Delay and loss on the nodes' links (`tc netem`).
    Netem {
        /// The validators.
        nodes: Vec<usize>,
        /// Added delay, ms.
        delay_ms: u32,
        /// Jitter, ms.
        #[serde(default)]
        jitter_ms: u32,
        /// Packet loss, percent.
        #[serde(default)]
        loss_percent: u32,
    },
    /// The node's disk (a small filesystem holding its home) full.
    DiskFull {
        /// The validators.
        nodes: Vec<usize>,
    },
    /// The node's clock off by `skew_ms` (positive: ahead) for the blocks it builds and
    /// the proposals it checks.
    ClockSkew {
        /// The validators.
        nodes: Vec<usize>,
        /// Milliseconds.
        skew_ms: i64,
    },
    /// The node's data deleted while it is down; it starts empty and catches up.
    Reset {
        /// The validators.
        nodes: Vec<usize>,
    },
    /// The node's PKCS#11 login lost every 2 s (a logout from the token shared by the
    /// process's sessions, as an HSM restart does): it must log in again and go on
    /// signing. The validators must be in `hsm`.
    HsmSessionLoss {
        /// The validators.
        nodes: Vec<usize>,
    },
    /// The validator removed from the validators by a governance vote (every other
    /// validator votes yes); it stays a member and follows. Permanent: the window is the
    /// quiet time after it. The checkers hold each height's commit to the set the vote
    /// scheduled (the change takes effect two heights after the vote passed).
    RemoveValidator {
        /// The validator (one).
        nodes: Vec<usize>,
    },
    /// A byzantine validator (the test-only build) for the window.
    Byzantine {
        /// The validators.
        nodes: Vec<usize>,
        /// `bad-signature`, `bad-proof`, `equivocate`, `withhold-parts` or `amnesia`.
        mode: String,
    },
}

/// The byzantine behaviours the test-only build has (`amnesia` is done by the runner:
/// the validator's consensus write-ahead log and signing guard are deleted while it is
/// down, so it forgets its votes and locks).
pub const BYZANTINE_MODES: &[&str] = &[
    "bad-signature",
    "bad-proof",
    "equivocate",
    "withhold-parts",
    "amnesia",
];

impl Kind {
    /// The kind's name, as in manifests.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Kill { .. } => "kill",
            Kind::Pause { .. } => "pause",
            Kind::Restart { .. } => "restart",
            Kind::Disconnect { .. } => "disconnect",
            Kind::Partition { .. } => "partition",
            Kind::Netem { .. } => "netem",
            Kind::DiskFull { .. } => "disk-full",
            Kind::ClockSkew { .. } => "clock-skew",
            Kind::Reset { .. } => "reset",
            Kind::HsmSessionLoss { .. } => "hsm-session-loss",
            Kind::RemoveValidator { .. } => "remove-validator",
            Kind::Byzantine { .. } => "byzantine",
        }
    }

    /// The validators it touches.
    pub fn nodes(&self) -> Vec<usize> {
        match self {
            Kind::Kill { nodes }
            | Kind::Pause { nodes }
            | Kind::Restart { nodes }
            | Kind::Disconnect { nodes }
            | Kind::Netem { nodes, .. }
            | Kind::DiskFull { nodes }
            | Kind::ClockSkew { nodes, .. }
            | Kind::Reset { nodes }
            | Kind::HsmSessionLoss { nodes }
            | Kind::RemoveValidator { nodes }
            | Kind::Byzantine { nodes, .. } => nodes.clone(),
            Kind::Partition { groups } => groups.iter().flatten().copied().collect(),
        }
    }

    /// Whether it needs network namespaces.
    pub fn needs_namespaces(&self) -> bool {
        matches!(
            self,
            Kind::Disconnect { .. } | Kind::Partition { .. } | Kind::Netem { .. }
        )
    }

    /// The validators it takes out of consensus while it lasts (a partition is judged
    /// by its groups instead).
    pub fn silenced(&self) -> Vec<usize> {
        match self {
            Kind::Kill { nodes }
            | Kind::Pause { nodes }
            | Kind::Restart { nodes }
            | Kind::Disconnect { nodes }
            | Kind::DiskFull { nodes }
            | Kind::Reset { nodes } => nodes.clone(),
            // A byzantine validator counts as faulty.
            Kind::Byzantine { nodes, .. } => nodes.clone(),
            _ => vec![],
        }
    }
}

impl Manifest {
    /// Parses and checks a manifest.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let m: Manifest = toml::from_str(text).map_err(|e| format!("manifest: {e}"))?;
        m.check()?;
        Ok(m)
    }

    /// Checks node numbers, windows and modes.
    pub fn check(&self) -> Result<(), String> {
        if let Some(n) = self.hsm.iter().find(|n| **n == 0 || **n > self.validators) {
            return Err(format!("hsm: validator {n} does not exist"));
        }
        if self.hsm.len() >= self.validators {
            return Err(
                "hsm: at least one validator keeps its keys in software (the runner's clients use it)"
                    .into(),
            );
        }
        if self.validators == 0 || self.validators > 40 {
            return Err(format!(
                "validators must be 1 to 40, not {}",
                self.validators
            ));
        }
        for (i, p) in self.perturbations.iter().enumerate() {
            let what = format!("perturbation {} ({})", i + 1, p.kind.name());
            let nodes = p.kind.nodes();
            if nodes.is_empty() {
                return Err(format!("{what}: names no validator"));
            }
            if let Some(n) = nodes.iter().find(|n| **n == 0 || **n > self.validators) {
                return Err(format!(
                    "{what}: validator {n} does not exist (1 to {})",
                    self.validators
                ));
            }
            if p.at_secs + p.for_secs > self.duration_secs {
                return Err(format!(
                    "{what}: ends at {} s, after the run ({} s)",
                    p.at_secs + p.for_secs,
                    self.duration_secs
                ));
            }
            if let Kind::RemoveValidator { nodes } = &p.kind {
                if nodes.len() != 1 {
                    return Err(format!("{what}: names one validator, not {}", nodes.len()));
                }
                if self.perturbations.iter().any(|q| q.at_secs > p.at_secs) {
                    return Err(format!(
                        "{what}: must be the last perturbation (the others assume the genesis set)"
                    ));
                }
            }
            if let Kind::HsmSessionLoss { nodes } = &p.kind {
                if let Some(n) = nodes.iter().find(|n| !self.hsm.contains(n)) {
                    return Err(format!(
                        "{what}: validator {n} keeps its keys in software; list it in hsm"
                    ));
                }
            }
            if let Kind::Byzantine { mode, .. } = &p.kind {
                if !BYZANTINE_MODES.contains(&mode.as_str()) {
                    return Err(format!(
                        "{what}: unknown mode {mode:?} (one of {})",
                        BYZANTINE_MODES.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// A soak of `minutes` on `validators`: every kind of perturbation, in a shuffled
    /// order repeated until the time is used, one after another with quiet gaps, on nodes
    /// drawn from `seed`. Most take out at most f validators; one partition in each cycle
    /// leaves no group with a quorum, so liveness is checked when it heals.
    pub fn soak(minutes: u64, validators: usize, load_tps: u32, seed: u64) -> Manifest {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let duration = minutes * 60;
        let f = (validators - 1) / 3;
        let mut out = Vec::new();
        let mut t = 15;
        let kinds = [
            "kill",
            "pause",
            "restart",
            "disconnect",
            "partition",
            "partition-no-quorum",
            "netem",
            "disk-full",
            "clock-skew",
            "reset",
            "bad-signature",
            "bad-proof",
            "equivocate",
            "withhold-parts",
            "amnesia",
            "hsm-session-loss",
        ];
        // The last f validators keep their keys in SoftHSM tokens.
        let hsm: Vec<usize> = (validators + 1 - f.max(1)..=validators).collect();
        let mut order: Vec<&str> = Vec::new();
        // Room is left at the end for the governance removal.
        while t + 60 < duration {
            if order.is_empty() {
                order = kinds.to_vec();
                order.shuffle(&mut rng);
            }
            let kind = order.pop().unwrap_or("kill");
            let mut all: Vec<usize> = (1..=validators).collect();
            all.shuffle(&mut rng);
            let some = all[..f.max(1)].to_vec();
            let window = rng.gen_range(8..=16);
            let nodes = some.clone();
            let kind = match kind {
                "kill" => Kind::Kill { nodes },
                "pause" => Kind::Pause { nodes },
                "restart" => Kind::Restart { nodes },
                "disconnect" => Kind::Disconnect { nodes },
                "partition" => Kind::Partition {
                    groups: vec![some.clone()],
                },
                "partition-no-quorum" => {
                    let half = validators / 2;
                    Kind::Partition {
                        groups: vec![all[..half].to_vec()],
                    }
                }
                "netem" => Kind::Netem {
                    nodes: all[..validators / 2].to_vec(),
                    delay_ms: 80,
                    jitter_ms: 40,
                    loss_percent: 5,
                },
                "disk-full" => Kind::DiskFull { nodes },
                "clock-skew" => Kind::ClockSkew {
                    nodes,
                    skew_ms: if rng.gen_bool(0.5) { 1_500 } else { -1_500 },
                },
                "reset" => Kind::Reset { nodes },
                "hsm-session-loss" => Kind::HsmSessionLoss { nodes: hsm.clone() },
                mode => Kind::Byzantine {
                    nodes,
                    mode: mode.to_string(),
                },
            };
            out.push(Perturbation {
                at_secs: t,
                for_secs: window,
                kind,
            });
            t += window + rng.gen_range(8..=14);
        }
        // Last, governance removes a validator (not one on SoftHSM): the checkers hold
        // each height to the set the vote scheduled.
        if validators > 1 {
            let mut software: Vec<usize> = (1..=validators).filter(|v| !hsm.contains(v)).collect();
            software.shuffle(&mut rng);
            out.push(Perturbation {
                at_secs: t,
                for_secs: 15,
                kind: Kind::RemoveValidator {
                    nodes: vec![software[0]],
                },
            });
        }
        Manifest {
            name: format!("soak-{minutes}min-{validators}v-seed{seed}"),
            validators,
            duration_secs: duration,
            load_tps,
            placement: Placement::Auto,
            hsm,
            perturbations: out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_parses_and_bad_ones_say_what_is_wrong() {
        let m = Manifest::parse(
            r#"
name = "t"
validators = 4
duration_secs = 60
[[perturbation]]
kind = "kill"
nodes = [2]
at_secs = 5
for_secs = 5
[[perturbation]]
kind = "partition"
groups = [[1, 2]]
at_secs = 20
for_secs = 5
"#,
        )
        .unwrap();
        assert_eq!(m.perturbations.len(), 2);
        assert_eq!(m.perturbations[1].kind.nodes(), vec![1, 2]);
        assert_eq!(m.load_tps, 20);
        let bad = |extra: &str| {
            Manifest::parse(&format!(
                "name = \"t\"\nvalidators = 4\nduration_secs = 60\n{extra}"
            ))
            .unwrap_err()
        };
        let e = bad("[[perturbation]]\nkind = \"kill\"\nnodes = [5]\nat_secs = 1\nfor_secs = 1");
        assert!(e.contains("validator 5 does not exist"), "{e}");
        let e = bad("[[perturbation]]\nkind = \"kill\"\nnodes = [1]\nat_secs = 59\nfor_secs = 5");
        assert!(e.contains("after the run"), "{e}");
        let e = bad(
            "[[perturbation]]\nkind = \"byzantine\"\nmode = \"x\"\nnodes = [1]\nat_secs = 1\nfor_secs = 1",
        );
        assert!(e.contains("unknown mode"), "{e}");
        let e = bad("[[perturbation]]\nkind = \"melt\"\nnodes = [1]\nat_secs = 1\nfor_secs = 1");
        assert!(e.contains("melt"), "{e}");
        let e = bad(
            "[[perturbation]]\nkind = \"kill\"\nnodes = [1]\nnodez = [2]\nat_secs = 1\nfor_secs = 1",
        );
        assert!(e.contains("nodez"), "{e}");
        let e = bad(
            "[[perturbation]]\nkind = \"hsm-session-loss\"\nnodes = [2]\nat_secs = 1\nfor_secs = 1",
        );
        assert!(e.contains("list it in hsm"), "{e}");
        let e = bad("hsm = [1, 2, 3, 4]");
        assert!(
            e.contains("at least one validator keeps its keys in software"),
            "{e}"
        );
    }

    #[test]
    fn a_soak_uses_every_kind_and_fits_its_time() {
        let m = Manifest::soak(10, 7, 30, 7);
        m.check().unwrap();
        let names: std::collections::BTreeSet<&str> =
            m.perturbations.iter().map(|p| p.kind.name()).collect();
        for k in [
            "kill",
            "pause",
            "restart",
            "disconnect",
            "partition",
            "netem",
            "disk-full",
            "clock-skew",
            "reset",
            "hsm-session-loss",
            "remove-validator",
            "byzantine",
        ] {
            assert!(names.contains(k), "{k} missing from {names:?}");
        }
        for mode in BYZANTINE_MODES {
            assert!(
                m.perturbations.iter().any(|p| p.kind
                    == Kind::Byzantine {
                        nodes: p.kind.nodes(),
                        mode: mode.to_string()
                    }),
                "{mode} missing"
            );
        }
        // Reproducible from the seed.
        assert_eq!(
            toml::to_string(&m).unwrap(),
            toml::to_string(&Manifest::soak(10, 7, 30, 7)).unwrap()
        );
    }
}
