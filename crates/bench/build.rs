//! Builds the C baselines against Debian's libdpkg-dev and librpm-dev (installed by `.ci/setup`).

fn main() {
    println!("cargo::rerun-if-changed=csrc/baselines.c");
    cc::Build::new()
        .file("csrc/baselines.c")
        .warnings(false)
        .compile("pwbaselines");
    for lib in ["dpkg", "rpm", "rpmio", "popt", "md"] {
        println!("cargo::rustc-link-lib={lib}");
    }
}
