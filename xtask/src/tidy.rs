//! Conventions kept true by tests (`cargo test -p xtask`): the dependency
//! edges of GUIDE.md, crate docs, and where `unsafe` may appear.

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::data::workspace_root;

    /// Normal dependencies each library crate may have; anything else is a
    /// design decision that must update this table (and docs/ARCHITECTURE.md).
    const ALLOWED: &[(&str, &[&str])] = &[
        ("zgq-rng", &[]),
        ("zgq-distance", &["wide"]),
        // hdf5-pure: optional, behind the `hdf5` feature (ann-benchmarks files).
        ("zgq-data", &["zgq-rng", "rayon", "thiserror", "hdf5-pure"]),
        (
            "zgq-hnsw",
            &["zgq-distance", "zgq-rng", "rayon", "thiserror", "bytemuck"],
        ),
        (
            "zgq-quant",
            &[
                "zgq-distance",
                "zgq-rng",
                "faer",
                "wide",
                "rayon",
                "thiserror",
            ],
        ),
        (
            "zgq",
            &[
                // zgq-data: the one atomic file writer (no dataset reader is used).
                "zgq-data",
                "zgq-distance",
                "zgq-hnsw",
                "zgq-quant",
                "rayon",
                "thiserror",
                "rkyv",
                "memmap2",
                "bytemuck",
                "crc32fast",
            ],
        ),
        // The Python package (PyPI, not crates.io): the index and its bindings.
        ("zgq-python", &["zgq", "rayon", "pyo3", "numpy"]),
    ];

    /// Files allowed to contain `unsafe`, each with a `// SAFETY:` comment.
    const UNSAFE_FILES: &[&str] = &[
        "crates/distance/src/x86.rs",
        "crates/data/src/ground_truth/kernel.rs",
        "crates/distance/src/prefetch.rs",
        "crates/zgq/src/format/mmap.rs",
    ];

    /// What `cargo ARGS` prints (run in the workspace, offline).
    fn cargo(args: &[&str]) -> Vec<u8> {
        let out =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(workspace_root())
                .args(args)
                .arg("--offline")
                .output()
                .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn metadata() -> serde_json::Value {
        serde_json::from_slice(&cargo(&["metadata", "--format-version", "1", "--no-deps"]))
            .expect("cargo metadata prints JSON")
    }

    fn normal_deps(pkg: &serde_json::Value) -> Vec<String> {
        pkg["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str().map(str::to_string))
            .collect()
    }

    #[test]
    fn library_crates_keep_their_dependency_edges() {
        let meta = metadata();
        let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
        for pkg in meta["packages"].as_array().unwrap() {
            let name = pkg["name"].as_str().unwrap();
            let deps = normal_deps(pkg);
            // `publish = false` packages (xtask, the benchmark binaries and
            // their shared lib) are tools, not libraries users depend on.
            let unpublished = pkg["publish"].as_array().is_some_and(|a| a.is_empty());
            let is_lib = !unpublished
                && pkg["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["kind"][0] == "lib");
            if is_lib {
                for banned in ["clap", "anyhow"] {
                    assert!(
                        !deps.iter().any(|d| d == banned),
                        "library {name} must not use {banned}"
                    );
                }
            }
            if let Some(ok) = allowed.get(name) {
                for d in &deps {
                    assert!(
                        ok.contains(&d.as_str()),
                        "{name} depends on {d}: not an allowed edge (xtask/src/tidy.rs)"
                    );
                }
            } else if name.starts_with("zgq-") && is_lib && name != "zgq-cli" {
                panic!("library {name} has no entry in the allowed-edges table");
            }
        }
    }

    /// The user's binary carries no benchmark harness: with default
    /// features, `zgq-cli`'s normal dependency tree holds none of the
    /// harness, its plotting or its JSON (a default feature that pulls
    /// `zgq-benches` back in fails this).
    #[test]
    fn the_cli_binary_compiles_no_benchmark_code() {
        let out = cargo(&["tree", "-p", "zgq-cli", "-e", "normal", "--prefix", "none"]);
        let tree = String::from_utf8_lossy(&out);
        for banned in ["zgq-benches ", "plotters ", "serde_json ", "serde "] {
            assert!(
                !tree.lines().any(|l| l.starts_with(banned)),
                "zgq-cli (default features) depends on {banned}"
            );
        }
        assert!(tree.lines().any(|l| l.starts_with("zgq ")), "{tree}");
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                // Build outputs (e.g. the fuzz crate's own target/) are not sources.
                if p.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    #[test]
    fn unsafe_lives_only_in_the_listed_modules_with_safety_comments() {
        let root = workspace_root();
        let mut files = Vec::new();
        rust_files(&root.join("crates"), &mut files);
        for f in files {
            let rel = f
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel.contains("/tests/") || rel.contains("/benches/") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            let blocks = text.matches("unsafe {").count();
            if UNSAFE_FILES.contains(&rel.as_str()) {
                let safety = text.matches("// SAFETY:").count();
                assert!(
                    safety >= blocks.min(1),
                    "{rel}: unsafe blocks without // SAFETY: comments"
                );
            } else {
                assert_eq!(
                    blocks, 0,
                    "{rel} has an unsafe block; unsafe belongs in {UNSAFE_FILES:?}"
                );
                assert!(!text.contains("unsafe fn"), "{rel} declares an unsafe fn");
            }
        }
    }

    #[test]
    fn every_library_opens_with_crate_docs_and_denies_missing_docs() {
        let root = workspace_root();
        for e in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
            let lib = e.path().join("src/lib.rs");
            if !lib.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&lib).unwrap();
            assert!(
                text.starts_with("//!"),
                "{}: must open with //! crate docs",
                lib.display()
            );
            assert!(
                text.contains("#![deny(missing_docs)]"),
                "{}: needs #![deny(missing_docs)]",
                lib.display()
            );
            assert!(
                text.contains("```"),
                "{}: crate docs need an example",
                lib.display()
            );
        }
    }
}
