"""lthpipe: how many of a trained MLP's weights are really needed?"""

__version__ = "0.1.0"
