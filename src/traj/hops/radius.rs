//! Step 2 of the site-based analysis: the vibration amplitude of the mobile species
//! (GEMDAT's radius rule: twice the spread of its back-and-forth excursions).

use ndarray::Array3;

use crate::error::Result;

use super::frac::norm;

/// GEMDAT's vibration amplitude: per atom, the distance from its starting position,
/// differenced over frames; the sums over runs of one sign are the excursions; the
/// amplitude is their standard deviation over all atoms.
pub fn vibration_amplitude(disp: &Array3<f32>, atoms: &[usize]) -> f64 {
    let t = disp.shape()[0];
    let mut amps: Vec<f64> = Vec::new();
    for &a in atoms {
        let d: Vec<f64> = (0..t)
            .map(|f| norm(std::array::from_fn(|x| disp[[f, a, x]] as f64)))
            .collect();
        excursions(&d, &mut amps);
    }
    spread(|put| {
        amps.iter().for_each(|v| put(*v));
        Ok(())
    })
    .unwrap_or(0.0)
}

/// The excursions of one atom whose distances from its starting position are `d`
/// (one per frame), appended to `amps`.
pub(crate) fn excursions(d: &[f64], amps: &mut Vec<f64>) {
    let t = d.len();
    let speed: Vec<f64> = (0..t)
        .map(|f| if f == 0 { d[0] } else { d[f] - d[f - 1] })
        .collect();
    let sign = |v: f64| {
        if v > 0.0 {
            1
        } else if v < 0.0 {
            -1
        } else {
            0
        }
    };
    let splits: Vec<usize> = (0..t)
        .filter(|&i| sign(speed[i]) != sign(speed[(i + 1) % t]))
        .collect();
    let cuts: Vec<usize> = if splits.len() > 2 {
        splits[1..splits.len() - 1].iter().map(|i| i + 1).collect()
    } else {
        Vec::new()
    };
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&t)) {
        amps.push(speed[start..c].iter().sum());
        start = c;
    }
}

/// The standard deviation of the excursions (0 when there are none), in two passes
/// over them: `each` hands every excursion, in the same order each time, to the
/// function it is given (so a streamed analysis need not keep them).
pub(crate) fn spread(mut each: impl FnMut(&mut dyn FnMut(f64)) -> Result<()>) -> Result<f64> {
    let (mut sum, mut n) = (0.0f64, 0usize);
    each(&mut |v| {
        sum += v;
        n += 1;
    })?;
    if n == 0 {
        return Ok(0.0);
    }
    let mean = sum / n as f64;
    let mut ss = 0.0f64;
    each(&mut |v| ss += (v - mean).powi(2))?;
    Ok((ss / n as f64).sqrt())
}
