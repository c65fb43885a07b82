__all__ = ["__version__", "version"]

__version__ = version = "0.1.0"
