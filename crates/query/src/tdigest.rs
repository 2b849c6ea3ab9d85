//! The t-digest behind `quantile(method: "estimate_tdigest")` and `median()`.
//!
//! Flux feeds every non-null value (weight 1, in row order) into influxdata's merging t-digest
//! and reads `Quantile(q)`. Its estimate depends on when centroids are merged, so this follows
//! that algorithm step by step: values collect unprocessed until more than `8 * compression` wait
//! (or more than `2 * compression` processed centroids exist), then all centroids are sorted by
//! mean and merged left to right while the running weight stays under the limit given by the
//! arcsine scale function `q(k) = (sin(min(k, c) * pi / c - pi / 2) + 1) / 2`. The quantile
//! interpolates between centroid midpoints (and towards min/max at the ends).

use std::f64::consts::PI;

#[derive(Debug, Clone, Copy)]
struct Centroid {
    mean: f64,
    weight: f64,
}

impl Centroid {
    fn add(&mut self, r: Centroid) {
        if self.weight != 0.0 {
            self.weight += r.weight;
            self.mean += r.weight * (r.mean - self.mean) / self.weight;
        } else {
            *self = r;
        }
    }
}

/// A merging t-digest.
#[derive(Debug, Clone)]
pub struct TDigest {
    compression: f64,
    max_processed: usize,
    max_unprocessed: usize,
    processed: Vec<Centroid>,
    unprocessed: Vec<Centroid>,
    processed_weight: f64,
    unprocessed_weight: f64,
    min: f64,
    max: f64,
}

impl TDigest {
    pub fn new(compression: f64) -> TDigest {
        TDigest {
            compression,
            max_processed: (2.0 * compression.ceil()) as usize,
            max_unprocessed: (8.0 * compression.ceil()) as usize,
            processed: Vec::new(),
            unprocessed: Vec::new(),
            processed_weight: 0.0,
            unprocessed_weight: 0.0,
            min: f64::MAX,
            max: -f64::MAX,
        }
    }

    /// Adds `x` with weight `w`; NaN values and non-positive weights are ignored.
    pub fn add(&mut self, x: f64, w: f64) {
        if x.is_nan() || w <= 0.0 || w.is_nan() || w.is_infinite() {
            return;
        }
        self.unprocessed.push(Centroid { mean: x, weight: w });
        self.unprocessed_weight += w;
        if self.processed.len() > self.max_processed
            || self.unprocessed.len() > self.max_unprocessed
        {
            self.process();
        }
    }

    fn integrated_q(&self, k: f64) -> f64 {
        ((k.min(self.compression) * PI / self.compression - PI / 2.0).sin() + 1.0) / 2.0
    }

    fn integrated_location(&self, q: f64) -> f64 {
        self.compression * ((2.0 * q - 1.0).asin() + PI / 2.0) / PI
    }

    fn process(&mut self) {
        if self.unprocessed.is_empty() && self.processed.len() <= self.max_processed {
            return;
        }
        let mut all = std::mem::take(&mut self.unprocessed);
        all.append(&mut self.processed);
        all.sort_by(|a, b| a.mean.total_cmp(&b.mean));
        self.processed_weight += self.unprocessed_weight;
        self.unprocessed_weight = 0.0;
        let mut processed = vec![all[0]];
        let mut so_far = all[0].weight;
        let mut limit = self.processed_weight * self.integrated_q(1.0);
        for c in &all[1..] {
            let projected = so_far + c.weight;
            if projected <= limit {
                so_far = projected;
                if let Some(last) = processed.last_mut() {
                    last.add(*c);
                }
            } else {
                let k1 = self.integrated_location(so_far / self.processed_weight);
                limit = self.processed_weight * self.integrated_q(k1 + 1.0);
                so_far += c.weight;
                processed.push(*c);
            }
        }
        self.min = self.min.min(processed[0].mean);
        self.max = self.max.max(processed[processed.len() - 1].mean);
        self.processed = processed;
    }

    /// The estimated `q` quantile; NaN when empty or `q` is outside `[0, 1]`.
    pub fn quantile(&mut self, q: f64) -> f64 {
        self.process();
        let p = &self.processed;
        if !(0.0..=1.0).contains(&q) || p.is_empty() {
            return f64::NAN;
        }
        if p.len() == 1 {
            return p[0].mean;
        }
        let mut cumulative = Vec::with_capacity(p.len() + 1);
        let mut prev = 0.0;
        for c in p {
            cumulative.push(prev + c.weight / 2.0);
            prev += c.weight;
        }
        cumulative.push(prev);
        let index = q * self.processed_weight;
        if index <= p[0].weight / 2.0 {
            return self.min + 2.0 * index / p[0].weight * (p[0].mean - self.min);
        }
        let lower = cumulative.partition_point(|&c| c < index);
        if lower + 1 < cumulative.len() {
            let z1 = index - cumulative[lower - 1];
            let z2 = cumulative[lower] - index;
            return weighted_average(p[lower - 1].mean, z2, p[lower].mean, z1);
        }
        let end = p.len() - 1;
        let z1 = index - self.processed_weight - p[end].weight / 2.0;
        let z2 = p[end].weight / 2.0 - z1;
        weighted_average(p[end].mean, z1, self.max, z2)
    }
}

fn weighted_average(x1: f64, w1: f64, x2: f64, w2: f64) -> f64 {
    let (x1, w1, x2, w2) = if x1 <= x2 {
        (x1, w1, x2, w2)
    } else {
        (x2, w2, x1, w1)
    };
    let x = (x1 * w1 + x2 * w2) / (w1 + w2);
    x1.max(x.min(x2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(xs: &[f64], q: f64) -> f64 {
        let mut t = TDigest::new(1000.0);
        for &x in xs {
            t.add(x, 1.0);
        }
        t.quantile(q)
    }

    #[test]
    fn few_values_interpolate_between_midpoints() {
        assert_eq!(estimate(&[1.5, 1.5, 4.5, 9.0], 0.25), 1.5);
        assert_eq!(estimate(&[20.0, 22.0, 21.0], 0.25), 20.25);
        assert_eq!(estimate(&[3.0], 0.9), 3.0);
        assert_eq!(estimate(&[1.0, 2.0], 0.0), 1.0);
        assert_eq!(estimate(&[1.0, 2.0], 1.0), 2.0);
        assert!(estimate(&[], 0.5).is_nan());
        assert!(estimate(&[1.0], 1.5).is_nan());
    }

    #[test]
    fn many_values_stay_close_to_the_truth() {
        let xs: Vec<f64> = (0..50_000).map(|i| ((i * 7919) % 50_000) as f64).collect();
        for q in [0.01, 0.25, 0.5, 0.75, 0.99] {
            let e = estimate(&xs, q);
            let truth = q * 49_999.0;
            assert!((e - truth).abs() < 50.0, "q={q}: {e} vs {truth}");
        }
    }
}
