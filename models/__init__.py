"""Model code for the penguin pipeline: features, preprocessing and the Keras model."""
