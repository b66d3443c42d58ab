//! `hark info`: what hark runs on.

use clap::Args;
use hark::{Context, ContextOptions};

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Also print every limit of the device.
    #[arg(long)]
    all_limits: bool,
}

pub fn run(args: &InfoArgs) -> hark::Result<()> {
    let options = ContextOptions::from_env()?;
    let ctx = Context::with_options(&options)?;
    let info = ctx.adapter_info();
    println!("adapter      {}", info.name);
    println!("device type  {:?}", info.device_type);
    println!("backend      {:?}", info.backend);
    println!("driver       {} {}", info.driver, info.driver_info);
    println!("vendor:device {:#06x}:{:#06x}", info.vendor, info.device);
    println!(
        "software     {}",
        if ctx.is_software() {
            "yes: shaders run on the CPU (GPU figures are CPU-bound)"
        } else {
            "no"
        }
    );
    let feature = |name: &str, on: bool| println!("  {name:<34} {}", if on { "yes" } else { "no" });
    println!("features hark uses");
    let f = ctx.features();
    feature(
        "TIMESTAMP_QUERY",
        f.contains(wgpu::Features::TIMESTAMP_QUERY),
    );
    feature(
        "TIMESTAMP_QUERY_INSIDE_PASSES",
        f.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
    );
    feature("SHADER_F16", f.contains(wgpu::Features::SHADER_F16));
    feature("SUBGROUP", f.contains(wgpu::Features::SUBGROUP));
    let l = ctx.limits();
    println!("limits");
    let limit = |name: &str, value: u64| println!("  {name:<38} {value}");
    limit("max_buffer_size", l.max_buffer_size);
    limit(
        "max_storage_buffer_binding_size",
        l.max_storage_buffer_binding_size,
    );
    limit(
        "max_compute_workgroup_storage_size",
        u64::from(l.max_compute_workgroup_storage_size),
    );
    limit(
        "max_compute_invocations_per_workgroup",
        u64::from(l.max_compute_invocations_per_workgroup),
    );
    limit(
        "max_compute_workgroups_per_dimension",
        u64::from(l.max_compute_workgroups_per_dimension),
    );
    limit(
        "min_storage_buffer_offset_alignment",
        u64::from(l.min_storage_buffer_offset_alignment),
    );
    limit("subgroup_min_size", u64::from(info.subgroup_min_size));
    limit("subgroup_max_size", u64::from(info.subgroup_max_size));
    if args.all_limits {
        println!("all limits\n{l:#?}");
    }
    Ok(())
}
