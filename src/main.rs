//! The `ngxr` command line.

fn main() {
    println!("ngxr");
}
