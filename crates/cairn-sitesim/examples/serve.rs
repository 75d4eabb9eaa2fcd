//! Serve one generated site and print the ready JSON line; for benchmarks
//! (`cargo run --release -p cairn-sitesim --example serve -- medium 42`).

use std::time::Instant;

use cairn_sitesim::{Scale, Sim, SimConfig, SiteSpec};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let scale: Scale = args.next().unwrap_or_else(|| "small".into()).parse()?;
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(42);
    let t0 = Instant::now();
    let sim = Sim::start(SimConfig {
        seed,
        scale,
        sites: vec![SiteSpec::new("bench")],
        ..Default::default()
    })
    .await?;
    eprintln!("generated and listening in {:.2?}", t0.elapsed());
    let (issues, pages, att_bytes) = sim.with_site("bench", |s| {
        (
            s.issues.len(),
            s.pages.len(),
            s.attachments.values().map(|a| a.blob.size()).sum::<u64>()
                + s.cattachments.values().map(|a| a.blob.size()).sum::<u64>(),
        )
    });
    eprintln!(
        "{issues} issues, {pages} pages and blog posts, {:.1} MiB of attachments",
        att_bytes as f64 / 1048576.0
    );
    println!("{}", sim.ready_json());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
