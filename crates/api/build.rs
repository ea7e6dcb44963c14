//! Compiles proto/ with the protoc binary shipped in the protoc-bin-vendored crate, so no
//! system protoc is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    // Relative to this package, so that a target directory shared by several checkouts
    // (the scripts keep one outside the clone) tracks each checkout's own proto files.
    println!("cargo:rerun-if-changed=../../proto");
    println!("cargo:rerun-if-changed=build.rs");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    tonic_prost_build::configure()
        .compile_protos(&[root.join("ledger/v1/ledger.proto")], &[root])?;
    Ok(())
}
