"""mailbot: the daemon behind a CSIRT's abuse mailbox."""

__version__ = "0.1.0"
