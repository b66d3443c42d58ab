//! Factory background noise in three distinct kinds (MIMII DG mixes recorded noise from three
//! factories, A, B and C): each rendered at unit power so the mixer can set the section's SNR.

use std::f32::consts::TAU;

use super::dsp::{power, OnePole, Resonator, Rng};

/// The background-noise kinds; A and B appear in source domains, C only in shifted targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactoryNoise {
    /// Pinkish broadband with mains hum (a hall of running motors).
    A,
    /// Low rumble with random hammer impacts (assembly work).
    B,
    /// Compressed-air hiss with a slowly sweeping conveyor tone.
    C,
}

impl FactoryNoise {
    pub fn label(self) -> &'static str {
        match self {
            FactoryNoise::A => "A",
            FactoryNoise::B => "B",
            FactoryNoise::C => "C",
        }
    }
}

/// `n` samples of `kind` at unit mean power.
pub fn render_noise(kind: FactoryNoise, rng: &mut Rng, n: usize, sample_rate: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; n];
    match kind {
        FactoryNoise::A => {
            // Three one-pole bands of white noise approximate a 1/f slope.
            let mut bands = [
                OnePole::new(80.0, sample_rate),
                OnePole::new(600.0, sample_rate),
                OnePole::new(4000.0, sample_rate),
            ];
            let hum_phase = rng.uniform(0.0, TAU);
            for (i, sample) in out.iter_mut().enumerate() {
                let t = i as f32 / sample_rate;
                let white = rng.normal();
                let pink = 3.0 * bands[0].process(white)
                    + bands[1].process(white)
                    + 0.4 * bands[2].process(white);
                let hum = 0.08 * (TAU * 50.0 * t + hum_phase).sin()
                    + 0.05 * (TAU * 100.0 * t + hum_phase).sin()
                    + 0.03 * (TAU * 150.0 * t).sin();
                *sample = pink + hum;
            }
        }
        FactoryNoise::B => {
            let mut rumble = OnePole::new(40.0, sample_rate);
            let mut body = Resonator::new(rng.uniform(900.0, 1500.0), 60.0, sample_rate);
            let impact_rate = rng.uniform(0.8, 2.5) / sample_rate;
            for sample in out.iter_mut() {
                let strike = if rng.unit() < impact_rate {
                    rng.uniform(20.0, 60.0)
                } else {
                    0.0
                };
                *sample =
                    6.0 * rumble.process(rng.normal()) + body.process(strike) + 0.05 * rng.normal();
            }
        }
        FactoryNoise::C => {
            let mut low = OnePole::new(2500.0, sample_rate);
            let sweep_rate = rng.uniform(0.05, 0.2);
            let base = rng.uniform(280.0, 340.0);
            let mut phase = 0.0f32;
            for (i, sample) in out.iter_mut().enumerate() {
                let t = i as f32 / sample_rate;
                let white = rng.normal();
                let hiss = white - low.process(white);
                let frequency = base * (1.0 + 0.06 * (TAU * sweep_rate * t).sin());
                phase = (phase + TAU * frequency / sample_rate) % TAU;
                let swell = 1.0 + 0.4 * (TAU * 0.5 * t).sin();
                *sample = swell * hiss + 0.3 * phase.sin();
            }
        }
    }
    let scale = 1.0 / power(&out).max(1e-12).sqrt();
    out.iter_mut().for_each(|s| *s *= scale);
    out
}
