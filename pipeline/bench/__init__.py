"""`make bench`: this project's pipeline against the stock TFX penguin example, side by side."""
