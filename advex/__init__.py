"""advex: adversarial exploration for robust robot transition-model learning."""

__version__ = "0.1.0"
