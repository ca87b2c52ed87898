"""The CSIRT in the thread: commands by mail from authenticated members."""
