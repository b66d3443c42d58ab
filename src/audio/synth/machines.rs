//! The five synthetic machine types of MIMII DG (003) with their three domain-shift sections
//! (Table 1: the shifting parameter, its disjoint source and target values, the section SNR) and
//! a sound model for each, built from the machine's physics: rotating tones, mesh harmonics with
//! load sidebands, defect impulses ringing in a resonance, motion bursts and valve clicks.

use std::f32::consts::TAU;

use super::dsp::{OnePole, Resonator, Rng};
use crate::audio::dataset::Attribute;

/// A synthetic machine type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MachineType {
    Fan,
    Gearbox,
    Bearing,
    Slider,
    Valve,
}

/// How a section's background noise is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoisePolicy {
    /// Factory noise A or B in both domains.
    AOrB,
    /// The shift parameter is the noise kind itself (A, B in source; C in target).
    ByValue,
}

/// One section: which parameter shifts, its source and target values, and the SNR.
#[derive(Clone, Copy, Debug)]
pub struct SectionSpec {
    pub parameter: &'static str,
    pub source_values: &'static [&'static str],
    pub target_values: &'static [&'static str],
    pub snr_db: f32,
    pub noise: NoisePolicy,
}

/// An anomaly to render: which of the machine's kinds and how strong (1 = clearly audible).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anomaly {
    pub kind: usize,
    pub severity: f32,
}

const fn spec(
    parameter: &'static str,
    source_values: &'static [&'static str],
    target_values: &'static [&'static str],
    snr_db: f32,
    noise: NoisePolicy,
) -> SectionSpec {
    SectionSpec {
        parameter,
        source_values,
        target_values,
        snr_db,
        noise,
    }
}

impl MachineType {
    pub const ALL: [MachineType; 5] = [
        MachineType::Fan,
        MachineType::Gearbox,
        MachineType::Bearing,
        MachineType::Slider,
        MachineType::Valve,
    ];

    /// The folder name, as in the DCASE data.
    pub fn name(self) -> &'static str {
        match self {
            MachineType::Fan => "fan",
            MachineType::Gearbox => "gearbox",
            MachineType::Bearing => "bearing",
            MachineType::Slider => "slider",
            MachineType::Valve => "valve",
        }
    }

    pub fn from_name(name: &str) -> Option<MachineType> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The anomaly kinds this machine can show (names for documentation and reports).
    pub fn anomaly_kinds(self) -> &'static [&'static str] {
        match self {
            MachineType::Fan => &["imbalance", "blade damage", "clogging"],
            MachineType::Gearbox => &["tooth damage", "over voltage"],
            MachineType::Bearing => &["eccentricity (radial)", "eccentricity (axial)"],
            MachineType::Slider => &["rail crack", "missing grease", "loose belt"],
            MachineType::Valve => &["contamination"],
        }
    }

    /// The domain-shift sections, following 003 Table 1.
    pub fn sections(self) -> [SectionSpec; 3] {
        use NoisePolicy::{AOrB, ByValue};
        match self {
            MachineType::Fan => [
                spec("m-n", &["W", "X"], &["Y", "Z"], -6.0, AOrB),
                spec("f-n", &["A", "B"], &["C"], -12.0, ByValue),
                // The SNR is the shift itself (noise levels L1-L4); see `snr_db`.
                spec("n-lv", &["L1", "L2"], &["L3", "L4"], 0.0, AOrB),
            ],
            MachineType::Gearbox => [
                spec(
                    "volt",
                    &["1.0", "1.5", "2.0", "2.5", "3.0"],
                    &["0.6", "0.8", "1.3", "1.8", "2.3", "3.3", "3.5"],
                    -6.0,
                    AOrB,
                ),
                spec(
                    "wt",
                    &["0", "50", "100", "150", "200"],
                    &["30", "80", "130", "180", "230", "250"],
                    -12.0,
                    AOrB,
                ),
                spec("id", &["05", "08", "13"], &["00", "02", "11"], -12.0, AOrB),
            ],
            MachineType::Bearing => [
                spec(
                    "vel",
                    &["6", "10", "14", "18", "22"],
                    &["2", "4", "8", "12", "16", "20", "24", "26"],
                    12.0,
                    AOrB,
                ),
                spec(
                    "loc",
                    &["A", "B", "C", "D"],
                    &["E", "F", "G", "H"],
                    12.0,
                    AOrB,
                ),
                spec("f-n", &["A", "B"], &["C"], 12.0, ByValue),
            ],
            MachineType::Slider => [
                spec(
                    "vel",
                    &["300", "500", "700", "900", "1100"],
                    &["100", "200", "400", "600", "800", "1000", "1200", "1300"],
                    -6.0,
                    AOrB,
                ),
                spec(
                    "ac",
                    &["0.03", "0.05", "0.07", "0.09", "0.11"],
                    &[
                        "0.01", "0.02", "0.04", "0.06", "0.08", "0.10", "0.12", "0.14",
                    ],
                    -3.0,
                    AOrB,
                ),
                spec("f-n", &["A", "B"], &["C"], -12.0, ByValue),
            ],
            MachineType::Valve => [
                spec("pat", &["00", "01"], &["02", "03"], 0.0, AOrB),
                spec("panel", &["open", "bs-c"], &["b-c", "s-c"], 0.0, AOrB),
                // (valve 1 pattern, valve 2 pattern); "none" where that valve is absent.
                spec(
                    "v1v2",
                    &["04/none", "05/none", "none/04", "none/05"],
                    &["04/04", "04/05", "05/04", "05/05"],
                    0.0,
                    AOrB,
                ),
            ],
        }
    }

    /// The section's SNR for a shift value (only fan section 02 varies it).
    pub fn snr_db(self, section: u32, value: &str) -> f32 {
        match (self, section, value) {
            (MachineType::Fan, 2, "L1") => 3.0,
            (MachineType::Fan, 2, "L2") => -9.0,
            (MachineType::Fan, 2, "L3") => -3.0,
            (MachineType::Fan, 2, "L4") => -15.0,
            _ => self.sections()[section as usize % 3].snr_db,
        }
    }

    /// The file-name attributes of a clip with shift `value` in `section`, following the DCASE
    /// 2022-2023 names (`volt_1.5_wt_150`, `vel_10_loc_A`, `pat_00_panel_open`, ...).
    pub fn attributes(self, section: u32, value: &str) -> Vec<Attribute> {
        let pairs: Vec<(&str, String)> = match (self, section) {
            (MachineType::Fan, _) => {
                vec![(
                    self.sections()[section as usize % 3].parameter,
                    value.into(),
                )]
            }
            (MachineType::Gearbox, 0) => vec![("volt", value.into()), ("wt", "150".into())],
            (MachineType::Gearbox, 1) => vec![("volt", "1.5".into()), ("wt", value.into())],
            (MachineType::Gearbox, _) => vec![("id", value.into())],
            (MachineType::Bearing, 0) => vec![("vel", value.into()), ("loc", "A".into())],
            (MachineType::Bearing, 1) => vec![("vel", "10".into()), ("loc", value.into())],
            (MachineType::Bearing, _) => vec![("vel", "10".into()), ("f-n", value.into())],
            (MachineType::Slider, 0) => vec![("vel", value.into()), ("ac", "0.07".into())],
            (MachineType::Slider, 1) => vec![("vel", "700".into()), ("ac", value.into())],
            (MachineType::Slider, _) => vec![("vel", "700".into()), ("f-n", value.into())],
            (MachineType::Valve, 0) => vec![("pat", value.into())],
            (MachineType::Valve, 1) => vec![("pat", "00".into()), ("panel", value.into())],
            (MachineType::Valve, _) => {
                let (v1, v2) = value.split_once('/').unwrap_or((value, "none"));
                vec![("v1pat", v1.into()), ("v2pat", v2.into())]
            }
        };
        pairs
            .into_iter()
            .map(|(key, value)| Attribute {
                key: key.to_string(),
                value,
            })
            .collect()
    }

    /// The clean machine sound of one clip: `n` samples at `sample_rate`, shift `value` of
    /// `section`, normal or with `anomaly`. Every clip also varies a little in speed and load
    /// (drawn from `rng`), as real recordings of one machine do.
    pub fn render(
        self,
        section: u32,
        value: &str,
        anomaly: Option<Anomaly>,
        rng: &mut Rng,
        n: usize,
        sample_rate: f32,
    ) -> Vec<f32> {
        let mut out = vec![0.0f32; n];
        let ctx = RenderContext {
            section,
            value,
            anomaly,
            sample_rate,
        };
        match self {
            MachineType::Fan => render_fan(&ctx, rng, &mut out),
            MachineType::Gearbox => render_gearbox(&ctx, rng, &mut out),
            MachineType::Bearing => render_bearing(&ctx, rng, &mut out),
            MachineType::Slider => render_slider(&ctx, rng, &mut out),
            MachineType::Valve => render_valve(&ctx, rng, &mut out),
        }
        out
    }
}

struct RenderContext<'a> {
    section: u32,
    value: &'a str,
    anomaly: Option<Anomaly>,
    sample_rate: f32,
}

impl RenderContext<'_> {
    /// The severity of anomaly kind `kind`, 0 when the clip is normal or shows another kind.
    fn severity(&self, kind: usize) -> f32 {
        match self.anomaly {
            Some(a) if a.kind == kind => a.severity,
            _ => 0.0,
        }
    }

    fn number(&self, default: f32) -> f32 {
        self.value.parse().unwrap_or(default)
    }
}

/// Fan: blade-pass harmonics over turbulence modulated at the blade rate. Anomalies: imbalance
/// (a once-per-turn tone and amplitude wobble), blade damage (harmonics of the shaft rate that
/// a symmetric rotor cancels), clogging (duller turbulence, slower rotor, a whistle).
fn render_fan(ctx: &RenderContext, rng: &mut Rng, out: &mut [f32]) {
    let sr = ctx.sample_rate;
    let (imbalance, damage, clogging) = (ctx.severity(0), ctx.severity(1), ctx.severity(2));
    let blades = 7.0;
    let shaft = rng.uniform(23.5, 24.5) * (1.0 - 0.03 * clogging);
    let harmonic_gains: Vec<f32> = (1..=6)
        .map(|k| rng.uniform(0.8, 1.2) / (k as f32).powf(1.2))
        .collect();
    let mut turbulence = OnePole::new(2200.0 * (1.0 - 0.35 * clogging), sr);
    let mut body = Resonator::new(rng.uniform(850.0, 950.0), 400.0, sr);
    let mut whistle = Resonator::new(1500.0, 15.0, sr);
    let mut phase = rng.uniform(0.0, TAU);
    let mut drift = 0.0f32;
    for sample in out.iter_mut() {
        // A slow random walk of the speed (±0.3 %): fans never hold an exact tone.
        drift = (drift + 2e-5 * rng.normal()).clamp(-0.003, 0.003);
        phase = (phase + TAU * shaft * (1.0 + drift) / sr) % (TAU * 1000.0);
        let mut tones = 0.0;
        for (k, gain) in harmonic_gains.iter().enumerate() {
            tones += gain * (phase * blades * (k + 1) as f32).sin();
        }
        if damage > 0.0 {
            for k in [2.0f32, 3.0, 5.0, 9.0, 11.0] {
                tones += 0.12 * damage * (phase * k).sin();
            }
        }
        let white = rng.normal();
        let air = 3.0 * turbulence.process(white) + 0.6 * body.process(white);
        let blade_modulation = 1.0 + 0.15 * (phase * blades).sin();
        let wobble = 1.0 + 0.25 * imbalance * phase.sin();
        *sample = wobble * (0.35 * tones + air * blade_modulation + 0.3 * imbalance * phase.sin())
            + 1.5 * clogging * whistle.process(white);
    }
}

/// Gearbox: a DC motor (speed ∝ voltage) drives meshing gears; the slider-crank load cycles once
/// per output turn, modulating mesh amplitude and speed (sidebands at mesh ± output rate). The
/// gearbox id sets tooth count and housing resonance. Anomalies: a damaged tooth (an impulse per
/// pinion turn ringing in the housing), over voltage (faster, rougher mesh).
fn render_gearbox(ctx: &RenderContext, rng: &mut Rng, out: &mut [f32]) {
    let sr = ctx.sample_rate;
    let (tooth, overvoltage) = (ctx.severity(0), ctx.severity(1));
    let (volt, weight, id) = match ctx.section {
        0 => (ctx.number(1.5), 150.0, 5.0),
        1 => (1.5, ctx.number(150.0), 5.0),
        _ => (1.5, 150.0, ctx.number(5.0)),
    };
    let teeth = 17.0 + (id as u32 % 7) as f32;
    let motor = 12.0 * volt * (1.0 + 0.12 * overvoltage) * rng.uniform(0.99, 1.01);
    let output_rate = motor / 4.0;
    let load_depth = 0.1 + 0.4 * weight / 250.0;
    let mut housing = Resonator::new(1500.0 + 120.0 * id, 120.0, sr);
    let mut brushes = Resonator::new(rng.uniform(2800.0, 3200.0), 800.0, sr);
    let (mut motor_phase, mut output_phase) = (rng.uniform(0.0, TAU), rng.uniform(0.0, TAU));
    let mut last_turn = 0u64;
    for sample in out.iter_mut() {
        let load = output_phase.sin();
        let speed = motor * (1.0 - 0.02 * load_depth * load);
        motor_phase += TAU * speed / sr;
        output_phase += TAU * output_rate / sr;
        let mesh_phase = motor_phase * teeth;
        let amplitude = (1.0 + load_depth * load) * (0.6 + weight / 500.0);
        let mesh = mesh_phase.sin()
            + 0.5 * (2.0 * mesh_phase).sin()
            + 0.25 * (3.0 * mesh_phase).sin()
            + 0.3 * overvoltage * (4.5 * mesh_phase).sin();
        // One tooth-damage strike per pinion revolution.
        let turn = (motor_phase / TAU) as u64;
        let strike = if turn != last_turn {
            last_turn = turn;
            tooth * rng.uniform(6.0, 10.0)
        } else {
            0.0
        };
        *sample = 0.4 * amplitude * mesh
            + 0.5 * brushes.process(rng.normal())
            + housing.process(strike + 0.3 * rng.normal());
    }
}

/// Bearing: a spindle turns at `vel` krpm; the shaft tone, the motor's pole tone and rolling
/// elements striking the races at the ball-pass rate, ringing in the housing. The microphone
/// location changes which resonance dominates. Anomalies: eccentricity, which makes the strikes
/// grow and fade once per turn (radial) or twice (axial) and raises the shaft tone.
fn render_bearing(ctx: &RenderContext, rng: &mut Rng, out: &mut [f32]) {
    let sr = ctx.sample_rate;
    let eccentricity = ctx.severity(0).max(ctx.severity(1));
    let turns_per_modulation = if ctx.severity(1) > 0.0 { 2.0 } else { 1.0 };
    let (krpm, location) = match ctx.section {
        0 => (ctx.number(10.0), 0u8),
        1 => (
            10.0,
            ctx.value
                .bytes()
                .next()
                .unwrap_or(b'A')
                .saturating_sub(b'A'),
        ),
        _ => (10.0, 0),
    };
    let shaft = krpm * 1000.0 / 60.0 * rng.uniform(0.995, 1.005);
    let ball_pass = 3.57 * shaft;
    let mut race = Resonator::new(2600.0 + 280.0 * f32::from(location), 250.0, sr);
    let mut hiss = OnePole::new(5000.0, sr);
    let (mut shaft_phase, mut ball_phase) = (rng.uniform(0.0, TAU), 0.0f32);
    let direct = 1.0 / (1.0 + 0.15 * f32::from(location));
    for sample in out.iter_mut() {
        shaft_phase += TAU * shaft / sr;
        ball_phase += ball_pass / sr;
        let strike = if ball_phase >= 1.0 {
            ball_phase -= 1.0;
            let modulation =
                1.0 + 1.5 * eccentricity * (0.5 + 0.5 * (turns_per_modulation * shaft_phase).sin());
            rng.uniform(0.5, 1.5) * 2.0 * modulation
        } else {
            0.0
        };
        let tones =
            (0.5 + 0.6 * eccentricity) * shaft_phase.sin() + 0.3 * (2.0 * shaft_phase).sin();
        *sample = direct * tones + race.process(strike) + 0.4 * hiss.process(rng.normal());
        shaft_phase %= TAU * 1000.0;
    }
}

/// Slide rail: the platform runs back and forth with a trapezoidal speed profile (ramps set by
/// the acceleration); while it moves, a motor whine rising with speed and rolling noise; a clunk
/// at each start and stop. Anomalies: a rail crack (a click where the platform passes it),
/// missing grease (friction squeal, more rolling noise), a loose belt (rattle in the ramps).
fn render_slider(ctx: &RenderContext, rng: &mut Rng, out: &mut [f32]) {
    let sr = ctx.sample_rate;
    let (crack, grease, belt) = (ctx.severity(0), ctx.severity(1), ctx.severity(2));
    let (velocity, acceleration) = match ctx.section {
        0 => (ctx.number(700.0), 0.07),
        1 => (700.0, ctx.number(0.07)),
        _ => (700.0, 0.07),
    };
    let top_speed = velocity / 1000.0 * rng.uniform(0.98, 1.02); // m/s
    let ramp = 0.1 + acceleration * 6.0; // s; larger "ac" values ramp more slowly here
    let stroke = 0.35; // m
    let pause = 0.25; // s at each end
    let mut rolling = Resonator::new(1400.0, 900.0, sr);
    let mut clunk = Resonator::new(380.0, 40.0, sr);
    let mut click = Resonator::new(4200.0, 300.0, sr);
    let mut squeal = Resonator::new(2500.0, 30.0, sr);
    let crack_at = rng.uniform(0.1, 0.25);
    let (mut position, mut whine_phase) = (0.0f32, 0.0f32);
    let (mut direction, mut speed, mut waiting) = (1.0f32, 0.0f32, 0.0f32);
    let mut moving = true;
    for sample in out.iter_mut() {
        let mut impulse = 0.0;
        let mut tick = 0.0;
        if moving {
            // Accelerate, cruise, then brake so as to stop at the end of the stroke.
            let remaining = if direction > 0.0 {
                stroke - position
            } else {
                position
            };
            let braking_distance = speed * speed * ramp / (2.0 * top_speed);
            let rate = top_speed / ramp / sr;
            speed = if remaining <= braking_distance {
                (speed - rate).max(0.0)
            } else {
                (speed + rate).min(top_speed)
            };
            let previous = position;
            position += direction * speed / sr;
            if (previous - crack_at) * (position - crack_at) < 0.0 {
                tick = crack * 25.0;
            }
            if speed == 0.0 || remaining <= 0.0 {
                moving = false;
                waiting = pause;
                impulse = 8.0;
                position = position.clamp(0.0, stroke);
            }
        } else {
            waiting -= 1.0 / sr;
            if waiting <= 0.0 {
                moving = true;
                direction = -direction;
                speed = top_speed / ramp / sr;
                impulse = 5.0;
            }
        }
        let level = speed / top_speed.max(1e-3);
        whine_phase = (whine_phase + TAU * (60.0 + 300.0 * speed) / sr) % TAU;
        let ramping = level > 0.05 && level < 0.95;
        let rattle = if ramping && rng.unit() < 150.0 / sr {
            belt * 12.0
        } else {
            0.0
        };
        let white = rng.normal();
        *sample = level * (0.4 * whine_phase.sin() + 0.15 * (2.0 * whine_phase).sin())
            + (1.0 + grease) * level * 0.8 * rolling.process(white)
            + 2.0 * grease * level * squeal.process(white)
            + clunk.process(impulse + rattle)
            + click.process(tick);
    }
}

/// Valve: a solenoid opens and closes on a programmed pattern; each switch is a sharp click
/// ringing in the valve body, and flow noise sounds while it is open. Panels around the valve
/// add an early reflection. Anomaly: contamination (a bouncing second click and gurgling flow).
fn render_valve(ctx: &RenderContext, rng: &mut Rng, out: &mut [f32]) {
    let sr = ctx.sample_rate;
    let contamination = ctx.severity(0);
    let patterns: Vec<(u32, f32)> = match ctx.section {
        0 => vec![(ctx.value.parse().unwrap_or(0), 2200.0)],
        1 => vec![(0, 2200.0)],
        _ => {
            let (v1, v2) = ctx.value.split_once('/').unwrap_or((ctx.value, "none"));
            [(v1, 2200.0), (v2, 3100.0)]
                .into_iter()
                .filter_map(|(p, f)| p.parse().ok().map(|p| (p, f)))
                .collect()
        }
    };
    for (pattern, body_frequency) in patterns {
        // The pattern fixes the rhythm (open time and cycle length); each clip starts at a
        // random point of it.
        let mut pattern_rng = Rng::new(0xA1A1 + u64::from(pattern));
        let cycle = pattern_rng.uniform(0.9, 2.2);
        let open_for = cycle * pattern_rng.uniform(0.25, 0.6);
        let offset = rng.uniform(0.0, cycle);
        let mut body = Resonator::new(body_frequency, 90.0, sr);
        let mut flow = Resonator::new(700.0, 500.0, sr);
        let mut envelope = OnePole::new(30.0, sr);
        let mut gurgle_phase = 0.0f32;
        let gurgle_rate = rng.uniform(8.0, 15.0);
        let bounce = (rng.uniform(0.005, 0.015) * sr) as usize;
        let mut pending_bounce: Option<usize> = None;
        let mut was_open = false;
        for (i, sample) in out.iter_mut().enumerate() {
            let t = i as f32 / sr + offset;
            let open = t % cycle < open_for;
            let mut strike = 0.0;
            if open != was_open {
                strike = if open { 30.0 } else { 20.0 } * rng.uniform(0.9, 1.1);
                if contamination > 0.0 {
                    pending_bounce = Some(i + bounce);
                }
                was_open = open;
            }
            if pending_bounce == Some(i) {
                strike += 18.0 * contamination;
                pending_bounce = None;
            }
            gurgle_phase = (gurgle_phase + TAU * gurgle_rate / sr) % TAU;
            let gurgle = 1.0 + 0.8 * contamination * gurgle_phase.sin();
            let level = envelope.process(if open { 1.0 } else { 0.0 });
            *sample += body.process(strike) + 0.5 * level * gurgle * flow.process(rng.normal());
        }
    }
    if ctx.section == 1 {
        // Panels: one early reflection whose delay and strength depend on the panel layout.
        let (delay_ms, gain) = match ctx.value {
            "open" => (0.0, 0.0),
            "bs-c" => (3.0, 0.5),
            "b-c" => (5.0, 0.4),
            _ => (7.5, 0.35),
        };
        let delay = (delay_ms * 1e-3 * sr) as usize;
        if delay > 0 {
            for i in (delay..out.len()).rev() {
                out[i] += gain * out[i - delay];
            }
        }
    }
}
