//! Compiles proto/ with the protoc binary shipped in the protoc-bin-vendored crate, so no
//! system protoc is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    // Relative to this package, so that a target directory shared by several checkouts
    // (the scripts keep one outside the clone) tracks each checkout's own proto files.
    println!("cargo:rerun-if-changed=../../proto");
    println!("cargo:rerun-if-changed=build.rs");
    // Read at run time: a build script binary can be reused by another checkout sharing
    // the target directory, and a compile-time path would point into that other checkout.
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    // The encoded descriptors, for gRPC server reflection (grpcurl and the like).
    let descriptors =
        std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("ledger_descriptor.bin");
    tonic_prost_build::configure()
        .file_descriptor_set_path(descriptors)
        .compile_protos(
            &[
                root.join("ledger/v1/ledger.proto"),
                root.join("ledger/v1/gateway.proto"),
            ],
            &[root],
        )?;
    Ok(())
}
