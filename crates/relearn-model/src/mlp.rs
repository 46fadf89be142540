//! The multi-layer perceptron.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData, activation};

use crate::codec::{CodecError, LayerWeights, MlpWeights};

/// The non-linearity between hidden layers.
#[derive(Config, Debug, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// Gaussian error linear unit (exact, erf-based).
    Gelu,
    /// Hyperbolic tangent.
    Tanh,
}

impl Activation {
    /// Every activation, in the order the docs list them.
    pub const ALL: [Activation; 3] = [Activation::Relu, Activation::Gelu, Activation::Tanh];

    /// The config spelling: `"relu"`, `"gelu"` or `"tanh"`.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
            Activation::Tanh => "tanh",
        }
    }

    /// Parses the config spelling.
    pub fn parse(name: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Applies the activation element-wise.
    pub fn forward<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu => activation::relu(x),
            Activation::Gelu => activation::gelu(x),
            Activation::Tanh => activation::tanh(x),
        }
    }
}

/// Configuration of an [`Mlp`]; [`MlpConfig::init`] builds one with fresh weights.
#[derive(Config, Debug, PartialEq)]
pub struct MlpConfig {
    /// Number of input features.
    pub d_input: usize,
    /// Width of each hidden layer, input side first. Empty: a linear model.
    pub hidden: Vec<usize>,
    /// Number of outputs: classes for classification, 1 for regression.
    pub d_output: usize,
    /// Non-linearity after each hidden layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Dropout probability after each hidden activation (training only).
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// A stack of [`Linear`] layers with an activation (and optional dropout) between them.
///
/// Weights use Burn's default initialisation (Kaiming uniform, like PyTorch's `nn.Linear`),
/// drawn from the device's random generator: seed the device first for reproducible weights.
#[derive(Module, Debug)]
pub struct Mlp {
    /// The layers, input side first; the last one produces the outputs.
    pub layers: Vec<Linear>,
    /// Dropout applied after each hidden activation.
    pub dropout: Dropout,
    /// Non-linearity between layers.
    #[module(skip)]
    pub activation: Activation,
}

impl MlpConfig {
    /// The layer widths from input to output, e.g. `[6, 64, 64, 2]`.
    pub fn widths(&self) -> Vec<usize> {
        let mut widths = Vec::with_capacity(self.hidden.len() + 2);
        widths.push(self.d_input);
        widths.extend_from_slice(&self.hidden);
        widths.push(self.d_output);
        widths
    }

    /// The config with these layer widths from input to output (the inverse of
    /// [`MlpConfig::widths`]), default activation and no dropout; `None` for fewer than two
    /// widths.
    pub fn from_widths(widths: &[usize]) -> Option<MlpConfig> {
        match widths {
            [d_input, hidden @ .., d_output] => {
                Some(MlpConfig::new(*d_input, hidden.to_vec(), *d_output))
            }
            _ => None,
        }
    }

    /// Builds an MLP with fresh weights on `device`.
    ///
    /// Pass an autodiff device (`device.clone().autodiff()`) to train it.
    pub fn init(&self, device: &Device) -> Mlp {
        let layers = self
            .widths()
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Mlp {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            activation: self.activation,
        }
    }

    /// Builds an MLP holding `weights` on `device`; fails when their shapes do not match this
    /// configuration.
    pub fn init_with(&self, weights: &MlpWeights, device: &Device) -> Result<Mlp, CodecError> {
        let expected = self.widths();
        if weights.widths() != expected {
            return Err(CodecError::ShapeMismatch {
                expected,
                found: weights.widths(),
            });
        }
        let layers = weights
            .layers
            .iter()
            .map(|layer| Linear {
                weight: Param::from_data(
                    TensorData::new(layer.weight.clone(), [layer.d_input, layer.d_output]),
                    device,
                ),
                bias: Some(Param::from_data(
                    TensorData::new(layer.bias.clone(), [layer.d_output]),
                    device,
                )),
            })
            .collect();
        Ok(Mlp {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            activation: self.activation,
        })
    }
}

impl Mlp {
    /// Applies the network.
    ///
    /// # Shapes
    ///
    /// - input: `[batch, d_input]`
    /// - output: `[batch, d_output]` (logits for classification, predictions for regression)
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut x = input;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = self.dropout.forward(self.activation.forward(x));
            }
        }
        x
    }

    /// Copies the weights out, for storing, diffing and exporting.
    pub fn weights(&self) -> MlpWeights {
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                let [d_input, d_output] = layer.weight.dims();
                let weight = layer.weight.val().into_data().try_to_vec::<f32>();
                let bias = match &layer.bias {
                    Some(b) => b.val().into_data().try_to_vec::<f32>(),
                    None => Ok(vec![0.0; d_output]),
                };
                LayerWeights {
                    d_input,
                    d_output,
                    weight: weight.expect("MLP weights are f32"),
                    bias: bias.expect("MLP biases are f32"),
                }
            })
            .collect();
        MlpWeights { layers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;

    fn config() -> MlpConfig {
        MlpConfig::new(3, vec![4, 5], 2)
    }

    /// Burn's CPU backends seed one process-wide generator; tests that draw from it take
    /// turns so that parallel tests do not interleave their draws.
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn from_widths_inverts_widths() {
        let widths = config().widths();
        assert_eq!(widths, vec![3, 4, 5, 2]);
        assert_eq!(MlpConfig::from_widths(&widths).unwrap().widths(), widths);
        assert_eq!(
            MlpConfig::from_widths(&[3, 2]).unwrap().hidden,
            Vec::<usize>::new()
        );
        assert!(MlpConfig::from_widths(&[3]).is_none());
        assert!(MlpConfig::from_widths(&[]).is_none());
    }

    #[test]
    fn forward_shape_is_batch_by_outputs() {
        let _rng = RNG.lock().unwrap();
        for backend in Backend::ALL {
            let device = backend.device();
            let mlp = config().init(&device);
            let out = mlp.forward(Tensor::<2>::zeros([7, 3], &device));
            assert_eq!(out.dims(), [7, 2], "{backend:?}");
        }
    }

    #[test]
    fn seeded_init_is_reproducible_and_seed_dependent() {
        let _rng = RNG.lock().unwrap();
        let device = Backend::Flex.device();
        device.seed(42);
        let a = config().init(&device).weights();
        device.seed(42);
        let b = config().init(&device).weights();
        device.seed(43);
        let c = config().init(&device).weights();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Kaiming uniform with PyTorch's gain: |w| <= 1/sqrt(fan_in).
        let bound = 1.0 / 3f32.sqrt();
        assert!(a.layers[0].weight.iter().all(|w| w.abs() <= bound));
    }

    #[test]
    fn weights_round_trip_through_init_with() {
        let _rng = RNG.lock().unwrap();
        let device = Backend::Ndarray.device();
        device.seed(7);
        let mlp = config().init(&device);
        let weights = mlp.weights();
        let again = config().init_with(&weights, &device).unwrap();
        assert_eq!(again.weights(), weights);
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -1.0, 2.0], [1, 3]), &device);
        let (a, b) = (
            mlp.forward(x.clone()).into_data(),
            again.forward(x).into_data(),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn forward_matches_hand_computation() {
        // A 2-1-1 network with known weights: relu(x·w1 + b1)·w2 + b2.
        let device = Backend::Flex.device();
        let weights = MlpWeights {
            layers: vec![
                LayerWeights {
                    d_input: 2,
                    d_output: 1,
                    weight: vec![1.0, -2.0],
                    bias: vec![0.5],
                },
                LayerWeights {
                    d_input: 1,
                    d_output: 1,
                    weight: vec![3.0],
                    bias: vec![-1.0],
                },
            ],
        };
        let mlp = MlpConfig::new(2, vec![1], 1)
            .init_with(&weights, &device)
            .unwrap();
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![2.0f32, 0.5, 0.0, 1.0], [2, 2]),
            &device,
        );
        let out = mlp.forward(x).into_data().try_to_vec::<f32>().unwrap();
        // row 1: relu(2 - 1 + 0.5) = 1.5 -> 3*1.5 - 1 = 3.5; row 2: relu(-2 + 0.5) = 0 -> -1.
        assert_eq!(out, vec![3.5, -1.0]);
    }

    #[test]
    fn init_with_rejects_other_shapes() {
        let _rng = RNG.lock().unwrap();
        let device = Backend::Flex.device();
        let weights = config().init(&device).weights();
        let err = MlpConfig::new(3, vec![4], 2)
            .init_with(&weights, &device)
            .unwrap_err();
        assert!(err.to_string().contains("[3, 4, 2]"), "{err}");
    }

    #[test]
    fn activation_names_round_trip() {
        for a in Activation::ALL {
            assert_eq!(Activation::parse(a.name()), Some(a));
        }
        assert_eq!(Activation::parse("sigmoid"), None);
    }
}
