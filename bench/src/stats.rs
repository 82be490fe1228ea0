//! Medians, spreads and percentiles.

/// The values one measurement took over its repetitions.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// One value per repetition, in the order measured.
    values: Vec<f64>,
    /// Repetitions too short for the clock that measures them (CPU time comes in 10 ms ticks):
    /// they give no value, and a row with nothing else says so instead of printing 0.
    too_short: usize,
}

impl Samples {
    /// Adds the value of one repetition.
    pub fn push(&mut self, value: f64) {
        self.values.push(value);
    }

    /// Counts a repetition that was too short to measure.
    pub fn push_too_short(&mut self) {
        self.too_short += 1;
    }

    /// Whether no repetition gave a value.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether no repetition gave a value, and some were too short to measure.
    pub fn only_too_short(&self) -> bool {
        self.values.is_empty() && self.too_short > 0
    }

    /// How many repetitions gave a value.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The median (the mean of the two middle values for an even count); `None` when empty.
    pub fn median(&self) -> Option<f64> {
        let sorted = self.sorted();
        let n = sorted.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(sorted[n / 2]),
            _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        }
    }

    /// The smallest and the largest value; `None` when empty.
    pub fn spread(&self) -> Option<(f64, f64)> {
        let sorted = self.sorted();
        Some((*sorted.first()?, *sorted.last()?))
    }

    fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }
}

/// The value below which `fraction` of `sorted` lies (nearest rank); `None` when empty.
pub fn percentile(sorted: &[u64], fraction: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let mut samples = Samples::default();
        assert_eq!(samples.median(), None);
        for v in [5.0, 1.0, 3.0] {
            samples.push(v);
        }
        assert_eq!(samples.median(), Some(3.0));
        samples.push(7.0);
        assert_eq!(samples.median(), Some(4.0));
        assert_eq!(samples.spread(), Some((1.0, 7.0)));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 0.5), Some(50));
        assert_eq!(percentile(&sorted, 0.99), Some(99));
        assert_eq!(percentile(&sorted, 1.0), Some(100));
        assert_eq!(percentile(&[7], 0.99), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
