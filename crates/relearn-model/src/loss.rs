//! Training objectives and the metrics reported for them.

use burn::tensor::{Int, Tensor, activation};
use serde::{Deserialize, Serialize};

/// What the outputs mean, and so which loss trains them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Logits over classes, trained with cross-entropy.
    Classification,
    /// One real output, trained with mean squared error.
    Regression,
}

/// Mean cross-entropy of `logits` against class indices.
///
/// # Shapes
///
/// - logits: `[batch, classes]`
/// - targets: `[batch]` (class indices)
/// - output: `[1]`
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    let log_probs = activation::log_softmax(logits, 1);
    let picked = log_probs.gather(1, targets.reshape([batch, 1]));
    picked.mean().neg()
}

/// Mean squared error.
///
/// # Shapes
///
/// - predictions: `[batch, 1]`
/// - targets: `[batch]`
/// - output: `[1]`
pub fn mean_squared_error(predictions: Tensor<2>, targets: Tensor<1>) -> Tensor<1> {
    let [batch, _] = predictions.dims();
    (predictions - targets.reshape([batch, 1])).square().mean()
}

/// Mean absolute error; shapes as [`mean_squared_error`].
pub fn mean_absolute_error(predictions: Tensor<2>, targets: Tensor<1>) -> Tensor<1> {
    let [batch, _] = predictions.dims();
    (predictions - targets.reshape([batch, 1])).abs().mean()
}

/// Accuracy (share of argmax hits) and mean cross-entropy of `logits` on class indices.
///
/// # Shapes
///
/// - logits: `[batch, classes]`
/// - targets: `[batch]`
pub fn accuracy_and_loss(logits: Tensor<2>, targets: Tensor<1, Int>) -> (f64, f64) {
    let [batch, _] = logits.dims();
    let predicted = logits.clone().argmax(1).reshape([batch]);
    let hits = predicted
        .equal(targets.clone())
        .int()
        .sum()
        .into_scalar::<i64>();
    let loss = cross_entropy(logits, targets).into_scalar::<f32>();
    (hits as f64 / batch as f64, loss as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;
    use burn::tensor::TensorData;

    #[test]
    fn cross_entropy_matches_closed_form() {
        let device = Backend::Flex.device();
        // Row 1: logits [0, ln 3] -> p(class 1) = 3/4; row 2: [0, 0] -> p(class 0) = 1/2.
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 3f32.ln(), 0.0, 0.0], [2, 2]),
            &device,
        );
        let targets = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 0], [2]), &device);
        let loss = cross_entropy(logits.clone(), targets.clone()).into_scalar::<f32>();
        let expected = -((0.75f32).ln() + (0.5f32).ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
        let (acc, loss2) = accuracy_and_loss(logits, targets);
        // Row 2 is a tie; argmax takes the first index, which is the target.
        assert_eq!(acc, 1.0);
        assert!((loss2 - expected as f64).abs() < 1e-6);
    }

    #[test]
    fn regression_errors_match_closed_form() {
        let device = Backend::Ndarray.device();
        let pred = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 4.0], [3, 1]), &device);
        let target = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0], [3]), &device);
        let mse = mean_squared_error(pred.clone(), target.clone()).into_scalar::<f32>();
        let mae = mean_absolute_error(pred, target).into_scalar::<f32>();
        assert!((mse - 13.0 / 3.0).abs() < 1e-6);
        assert!((mae - 5.0 / 3.0).abs() < 1e-6);
    }
}
